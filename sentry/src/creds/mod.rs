//! Credentials inside the sandbox: user and group ids, supplementary groups and the five
//! capability sets, with the rules Linux applies to them (capabilities(7),
//! credentials(7), path_resolution(7)). The sentry acts on host files as a privileged
//! process, so every permission check a guest is owed happens here.

mod userns;

pub(crate) use userns::{next_ns_ino, note_ns_ino, IdMap, UserNsRef};
pub use userns::{Extent, UserNsState};

/// A capability set: bit `n` is capability `n`.
pub(crate) type CapSet = u64;

pub(crate) const CAP_CHOWN: u32 = 0;
pub(crate) const CAP_DAC_OVERRIDE: u32 = 1;
pub(crate) const CAP_DAC_READ_SEARCH: u32 = 2;
pub(crate) const CAP_FOWNER: u32 = 3;
pub(crate) const CAP_FSETID: u32 = 4;
pub(crate) const CAP_KILL: u32 = 5;
pub(crate) const CAP_SETGID: u32 = 6;
pub(crate) const CAP_SETUID: u32 = 7;
pub(crate) const CAP_SETPCAP: u32 = 8;
pub(crate) const CAP_LINUX_IMMUTABLE: u32 = 9;
pub(crate) const CAP_NET_ADMIN: u32 = 12;
pub(crate) const CAP_SYS_PTRACE: u32 = 19;
pub(crate) const CAP_SYS_ADMIN: u32 = 21;
pub(crate) const CAP_SYS_NICE: u32 = 23;
pub(crate) const CAP_SYS_RESOURCE: u32 = 24;
pub(crate) const CAP_MKNOD: u32 = 27;
pub(crate) const CAP_MAC_OVERRIDE: u32 = 32;
pub(crate) const CAP_CHECKPOINT_RESTORE: u32 = 40;
/// The highest capability number Linux knows today (CAP_CHECKPOINT_RESTORE).
pub(crate) const CAP_LAST: u32 = 40;
/// Every capability.
pub(crate) const ALL_CAPS: CapSet = (1 << (CAP_LAST + 1)) - 1;

/// The capabilities that follow the file-system uid (capabilities(7): "Effect of user ID
/// changes on capabilities").
const FS_CAPS: CapSet = (1 << CAP_CHOWN)
    | (1 << CAP_DAC_OVERRIDE)
    | (1 << CAP_DAC_READ_SEARCH)
    | (1 << CAP_FOWNER)
    | (1 << CAP_FSETID)
    | (1 << CAP_LINUX_IMMUTABLE)
    | (1 << CAP_MAC_OVERRIDE)
    | (1 << CAP_MKNOD);

pub(crate) const MAY_EXEC: u32 = 1;
pub(crate) const MAY_WRITE: u32 = 2;
pub(crate) const MAY_READ: u32 = 4;

/// A process's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    pub effective: CapSet,
    pub permitted: CapSet,
    pub inheritable: CapSet,
    pub bounding: CapSet,
    pub ambient: CapSet,
    /// PR_SET_KEEPCAPS: permitted survives the switch away from uid 0.
    pub keep_caps: bool,
    pub no_new_privs: bool,
    /// The user namespace the ids and capabilities are in.
    pub(crate) userns: UserNsRef,
}

/// The capability sets a container process starts with (OCI `process.capabilities`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CapSets {
    pub effective: CapSet,
    pub permitted: CapSet,
    pub inheritable: CapSet,
    pub bounding: CapSet,
    pub ambient: CapSet,
}

impl CapSets {
    /// What a process of `uid` has when the spec names no capabilities: root all of them,
    /// anyone else none (the bounding set is full either way).
    pub fn default_for(uid: u32) -> CapSets {
        let all = if uid == 0 { ALL_CAPS } else { 0 };
        CapSets {
            effective: all,
            permitted: all,
            inheritable: 0,
            bounding: ALL_CAPS,
            ambient: 0,
        }
    }
}

/// A file's identity and mode, as permission checks need it.
#[derive(Debug, Clone, Copy)]
pub struct Inode {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl From<&libc::stat> for Inode {
    fn from(st: &libc::stat) -> Inode {
        Inode {
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
        }
    }
}

fn is_dir(mode: u32) -> bool {
    mode & libc::S_IFMT == libc::S_IFDIR
}

impl Creds {
    /// The credentials of a container process before its first execve: the spec's user
    /// and capability sets, as runc sets them up.
    pub fn new(uid: u32, gid: u32, groups: Vec<u32>, caps: CapSets, no_new_privs: bool) -> Creds {
        Creds {
            uid,
            euid: uid,
            suid: uid,
            fsuid: uid,
            gid,
            egid: gid,
            sgid: gid,
            fsgid: gid,
            groups,
            effective: caps.effective & caps.permitted,
            permitted: caps.permitted,
            inheritable: caps.inheritable,
            bounding: caps.bounding,
            ambient: caps.ambient & caps.permitted & caps.inheritable,
            keep_caps: false,
            no_new_privs,
            userns: UserNsRef::init(),
        }
    }

    /// Root with every capability: what the sentry itself acts as (restore reopening files
    /// the guest had open).
    pub fn kernel() -> Creds {
        Creds::new(0, 0, Vec::new(), CapSets::default_for(0), false)
    }

    /// The capability in the caller's own user namespace (ns_capable of it): what
    /// checks on the caller's own ids and namespaces ask.
    pub fn has(&self, cap: u32) -> bool {
        self.effective & (1 << cap) != 0
    }

    /// The capability in the initial user namespace (capable()): what checks on the
    /// sandbox's shared resources ask. A task of a namespace the guest made has none.
    pub fn has_init(&self, cap: u32) -> bool {
        self.userns.is_init() && self.has(cap)
    }

    /// The capability in namespace `target` (cap_capable): the caller's own and those
    /// below it; in a child of the caller's namespace also every one when the caller made
    /// it (its owner).
    pub(crate) fn capable_in(&self, target: &UserNsRef, cap: u32) -> bool {
        let mut ns = target.clone();
        loop {
            if ns == self.userns {
                return self.has(cap);
            }
            if ns.level() <= self.userns.level() {
                return false;
            }
            let parent = ns.parent().expect("below the caller's level");
            if parent == self.userns && ns.owner() == Some(self.euid) {
                return true;
            }
            ns = parent;
        }
    }

    /// The capability over file `ino` (capable_wrt_inode_uidgid): held in the caller's
    /// namespace, which maps the file's owner and group.
    pub fn has_over(&self, ino: &Inode, cap: u32) -> bool {
        self.has(cap)
            && self.userns.id_of(IdMap::Uid, ino.uid).is_some()
            && self.userns.id_of(IdMap::Gid, ino.gid).is_some()
    }

    /// The kernel uid of the caller's namespace's root (none while the namespace maps no
    /// uid 0).
    fn root_uid(&self) -> Option<u32> {
        self.userns.kernel_of(IdMap::Uid, 0)
    }

    /// unshare(CLONE_NEWUSER) and clone(CLONE_NEWUSER): the caller moves to a new
    /// namespace below its own, with every capability there (set_cred_user_ns).
    pub fn enter_new_userns(&mut self) -> Result<(), i32> {
        self.userns = self.userns.child(self.euid, self.egid)?;
        self.effective = ALL_CAPS;
        self.permitted = ALL_CAPS;
        self.bounding = ALL_CAPS;
        self.inheritable = 0;
        self.ambient = 0;
        self.keep_caps = false;
        Ok(())
    }

    /// Whether these credentials may read another process's state (ptrace(2)'s
    /// PTRACE_MODE_READ_REALCREDS): the caller's real uid and gid are each of the target's
    /// real, effective and saved ones, or the caller has CAP_SYS_PTRACE.
    pub(crate) fn may_read_process(&self, target: &Creds) -> bool {
        let uids = [target.uid, target.euid, target.suid];
        let gids = [target.gid, target.egid, target.sgid];
        (uids.iter().all(|&u| u == self.uid) && gids.iter().all(|&g| g == self.gid))
            || self.has_init(CAP_SYS_PTRACE)
    }

    pub fn in_group(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.contains(&gid)
    }

    /// Whether the caller owns `ino` or may act as its owner (CAP_FOWNER).
    pub fn owns(&self, ino: &Inode) -> bool {
        self.fsuid == ino.uid || self.has_over(ino, CAP_FOWNER)
    }

    /// Linux's `generic_permission`: `mask` of MAY_READ | MAY_WRITE | MAY_EXEC on `ino`,
    /// by mode bits, then by CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH.
    pub fn may(&self, ino: &Inode, mask: u32) -> Result<(), i32> {
        let perms = if self.fsuid == ino.uid {
            ino.mode >> 6
        } else if self.in_group(ino.gid) {
            ino.mode >> 3
        } else {
            ino.mode
        } & 7;
        if mask & !perms == 0 {
            return Ok(());
        }
        if is_dir(ino.mode) {
            if mask & MAY_WRITE == 0 && self.has_over(ino, CAP_DAC_READ_SEARCH) {
                return Ok(());
            }
            if self.has_over(ino, CAP_DAC_OVERRIDE) {
                return Ok(());
            }
        } else {
            if mask == MAY_READ && self.has_over(ino, CAP_DAC_READ_SEARCH) {
                return Ok(());
            }
            // Execute is granted by the capability only when some execute bit is set.
            if (mask & MAY_EXEC == 0 || ino.mode & 0o111 != 0)
                && self.has_over(ino, CAP_DAC_OVERRIDE)
            {
                return Ok(());
            }
        }
        Err(libc::EACCES)
    }

    /// True when no permission check on files can fail (the common case of root with its
    /// capabilities): lets path walks skip the stats a search check needs.
    pub fn searches_anything(&self) -> bool {
        self.has_init(CAP_DAC_OVERRIDE) || self.has_init(CAP_DAC_READ_SEARCH)
    }

    /// kill(2)'s permission rule: the sender's real or effective uid matches the target's
    /// real or saved uid, or the sender has CAP_KILL (SIGCONT within a session is checked
    /// by the caller).
    pub fn may_signal(&self, target: &Creds) -> bool {
        self.has_init(CAP_KILL)
            || [self.uid, self.euid]
                .iter()
                .any(|u| *u == target.uid || *u == target.suid)
    }

    /// The sticky-directory rule: removing or renaming `victim` out of directory `dir`
    /// with S_ISVTX needs ownership of one of them, or CAP_FOWNER.
    pub fn may_delete_from(&self, dir: &Inode, victim: &Inode) -> Result<(), i32> {
        if dir.mode & libc::S_ISVTX != 0
            && self.fsuid != victim.uid
            && self.fsuid != dir.uid
            && !self.has_over(victim, CAP_FOWNER)
        {
            return Err(libc::EPERM);
        }
        Ok(())
    }

    /// Owner and group of a file this process creates in directory `dir`, and whether a
    /// new directory inherits the set-group-ID bit (BSD group semantics of S_ISGID dirs).
    pub fn new_file_owner(&self, dir: &Inode) -> (u32, u32, bool) {
        if dir.mode & libc::S_ISGID != 0 {
            (self.fsuid, dir.gid, true)
        } else {
            (self.fsuid, self.fsgid, false)
        }
    }

    /// The mode chmod actually sets: the set-group-ID bit goes unless the caller is in the
    /// file's group or has CAP_FSETID.
    pub fn chmod_mode(&self, ino: &Inode, mode: u32) -> u32 {
        if mode & libc::S_ISGID != 0 && !self.in_group(ino.gid) && !self.has_over(ino, CAP_FSETID) {
            mode & !libc::S_ISGID
        } else {
            mode
        }
    }

    /// The credentials `access(2)` checks with: the real ids, and capabilities only when
    /// the real uid is 0 (Linux's `access_override_creds`).
    pub fn for_access(&self) -> Creds {
        let mut c = self.clone();
        c.fsuid = self.uid;
        c.fsgid = self.gid;
        c.effective = if Some(self.uid) == self.root_uid() {
            self.permitted
        } else {
            0
        };
        c
    }

    /// Applies a uid change (new real, effective, saved and fs uids) with its effect on
    /// the capability sets.
    fn change_uids(&mut self, uid: u32, euid: u32, suid: u32, fsuid: u32) {
        let root = self.root_uid();
        let is_root = |u: u32| Some(u) == root;
        let (old_euid, old_fsuid) = (self.euid, self.fsuid);
        let had_root = is_root(self.uid) || is_root(self.euid) || is_root(self.suid);
        (self.uid, self.euid, self.suid, self.fsuid) = (uid, euid, suid, fsuid);
        if had_root && !is_root(uid) && !is_root(euid) && !is_root(suid) {
            if !self.keep_caps {
                self.permitted = 0;
            }
            self.effective = 0;
            self.ambient = 0;
        }
        if is_root(old_euid) && !is_root(euid) {
            self.effective = 0;
        }
        if !is_root(old_euid) && is_root(euid) {
            self.effective = self.permitted;
        }
        if is_root(old_fsuid) && !is_root(fsuid) {
            self.effective &= !FS_CAPS;
        }
        if !is_root(old_fsuid) && is_root(fsuid) {
            self.effective |= self.permitted & FS_CAPS;
        }
    }

    /// setuid(2).
    pub fn setuid(&mut self, u: u32) -> Result<(), i32> {
        if u == u32::MAX {
            return Err(libc::EINVAL);
        }
        if self.has(CAP_SETUID) {
            self.change_uids(u, u, u, u);
        } else if u == self.uid || u == self.suid {
            self.change_uids(self.uid, u, self.suid, u);
        } else {
            return Err(libc::EPERM);
        }
        Ok(())
    }

    /// setreuid(2); `None` leaves an id as it is.
    pub fn setreuid(&mut self, r: Option<u32>, e: Option<u32>) -> Result<(), i32> {
        let priv_ = self.has(CAP_SETUID);
        let (ruid, euid, suid) = (self.uid, self.euid, self.suid);
        if let Some(r) = r {
            if !priv_ && r != ruid && r != euid {
                return Err(libc::EPERM);
            }
        }
        if let Some(e) = e {
            if !priv_ && e != ruid && e != euid && e != suid {
                return Err(libc::EPERM);
            }
        }
        let nr = r.unwrap_or(ruid);
        let ne = e.unwrap_or(euid);
        let ns = if r.is_some() || e.is_some_and(|e| e != ruid) {
            ne
        } else {
            suid
        };
        self.change_uids(nr, ne, ns, ne);
        Ok(())
    }

    /// setresuid(2); `None` leaves an id as it is.
    pub fn setresuid(&mut self, r: Option<u32>, e: Option<u32>, s: Option<u32>) -> Result<(), i32> {
        let cur = [self.uid, self.euid, self.suid];
        if !self.has(CAP_SETUID) && [r, e, s].iter().flatten().any(|v| !cur.contains(v)) {
            return Err(libc::EPERM);
        }
        let ne = e.unwrap_or(self.euid);
        self.change_uids(r.unwrap_or(self.uid), ne, s.unwrap_or(self.suid), ne);
        Ok(())
    }

    /// setfsuid(2): returns the old fsuid, changed or not.
    pub fn setfsuid(&mut self, f: u32) -> u32 {
        let old = self.fsuid;
        if f != u32::MAX
            && (self.has(CAP_SETUID) || [self.uid, self.euid, self.suid, self.fsuid].contains(&f))
        {
            self.change_uids(self.uid, self.euid, self.suid, f);
        }
        old
    }

    /// setgid(2).
    pub fn setgid(&mut self, g: u32) -> Result<(), i32> {
        if g == u32::MAX {
            return Err(libc::EINVAL);
        }
        if self.has(CAP_SETGID) {
            (self.gid, self.egid, self.sgid, self.fsgid) = (g, g, g, g);
        } else if g == self.gid || g == self.sgid {
            (self.egid, self.fsgid) = (g, g);
        } else {
            return Err(libc::EPERM);
        }
        Ok(())
    }

    /// setregid(2).
    pub fn setregid(&mut self, r: Option<u32>, e: Option<u32>) -> Result<(), i32> {
        let priv_ = self.has(CAP_SETGID);
        let (rgid, egid, sgid) = (self.gid, self.egid, self.sgid);
        if r.is_some_and(|r| !priv_ && r != rgid && r != egid)
            || e.is_some_and(|e| !priv_ && e != rgid && e != egid && e != sgid)
        {
            return Err(libc::EPERM);
        }
        let ne = e.unwrap_or(egid);
        if r.is_some() || e.is_some_and(|e| e != rgid) {
            self.sgid = ne;
        }
        self.gid = r.unwrap_or(rgid);
        (self.egid, self.fsgid) = (ne, ne);
        Ok(())
    }

    /// setresgid(2).
    pub fn setresgid(&mut self, r: Option<u32>, e: Option<u32>, s: Option<u32>) -> Result<(), i32> {
        let cur = [self.gid, self.egid, self.sgid];
        if !self.has(CAP_SETGID) && [r, e, s].iter().flatten().any(|v| !cur.contains(v)) {
            return Err(libc::EPERM);
        }
        self.gid = r.unwrap_or(self.gid);
        self.egid = e.unwrap_or(self.egid);
        self.sgid = s.unwrap_or(self.sgid);
        self.fsgid = self.egid;
        Ok(())
    }

    /// setfsgid(2): returns the old fsgid.
    pub fn setfsgid(&mut self, f: u32) -> u32 {
        let old = self.fsgid;
        if f != u32::MAX
            && (self.has(CAP_SETGID) || [self.gid, self.egid, self.sgid, self.fsgid].contains(&f))
        {
            self.fsgid = f;
        }
        old
    }

    /// capset(2) on oneself: no set may grow beyond what Linux allows.
    pub fn capset(
        &mut self,
        effective: CapSet,
        permitted: CapSet,
        inheritable: CapSet,
    ) -> Result<(), i32> {
        let (effective, permitted, inheritable) = (
            effective & ALL_CAPS,
            permitted & ALL_CAPS,
            inheritable & ALL_CAPS,
        );
        if permitted & !self.permitted != 0 || effective & !permitted != 0 {
            return Err(libc::EPERM);
        }
        // New inheritable bits must be permitted (unless CAP_SETPCAP) and bounded.
        if (inheritable & !(self.inheritable | self.permitted) != 0 && !self.has(CAP_SETPCAP))
            || inheritable & !(self.inheritable | self.bounding) != 0
        {
            return Err(libc::EPERM);
        }
        self.effective = effective;
        self.permitted = permitted;
        self.inheritable = inheritable;
        self.ambient &= permitted & inheritable;
        Ok(())
    }

    /// The credentials after execve of a file with mode `mode` owned by `owner`/`group`,
    /// on a mount that honours set-user-ID bits when `suid_ok`. Returns whether the
    /// execution is privileged (AT_SECURE): ids or capabilities were raised.
    pub fn exec(&mut self, mode: u32, owner: u32, group: u32, suid_ok: bool) -> bool {
        let honour = suid_ok && !self.no_new_privs;
        let mut secure = false;
        let (mut euid, mut egid) = (self.euid, self.egid);
        if honour && mode & libc::S_ISUID != 0 && owner != euid {
            euid = owner;
            secure = true;
        }
        if honour && mode & libc::S_ISGID != 0 && mode & libc::S_IXGRP != 0 && group != egid {
            egid = group;
            secure = true;
        }
        let had_permitted = self.permitted;
        // Without file capabilities: root (real or effective) gets the file's sets as
        // "all", others none; the ambient set carries over for an unprivileged file.
        let root_uid = self.root_uid();
        let root = Some(self.uid) == root_uid || Some(euid) == root_uid;
        let privileged_file = secure || root;
        self.ambient = if privileged_file { 0 } else { self.ambient };
        let (f_inh, f_perm) = if root { (ALL_CAPS, ALL_CAPS) } else { (0, 0) };
        self.permitted = (self.inheritable & f_inh) | (f_perm & self.bounding) | self.ambient;
        self.effective = if Some(euid) == root_uid {
            self.permitted
        } else {
            self.ambient
        };
        // Capabilities gained by a process whose real uid is not root: privileged too.
        if self.permitted & !had_permitted != 0 && Some(self.uid) != root_uid {
            secure = true;
        }
        self.euid = euid;
        self.suid = euid;
        self.fsuid = euid;
        self.egid = egid;
        self.sgid = egid;
        self.fsgid = egid;
        self.keep_caps = false;
        secure
    }
}

/// A process's credentials: (real, effective, saved, fs) uids and gids, supplementary
/// groups, the five capability sets, keep-caps and no_new_privs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CredsState {
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub groups: Vec<u32>,
    /// effective, permitted, inheritable, bounding, ambient
    pub caps: [u64; 5],
    pub keep_caps: bool,
    pub no_new_privs: bool,
    /// The inode number of the user namespace (`UserNsState::ino`; the initial one's
    /// is `userns::INIT_INO`).
    pub userns: u64,
}

impl CredsState {
    pub fn save(c: &crate::creds::Creds) -> CredsState {
        let crate::creds::Creds {
            uid,
            euid,
            suid,
            fsuid,
            gid,
            egid,
            sgid,
            fsgid,
            groups,
            effective,
            permitted,
            inheritable,
            bounding,
            ambient,
            keep_caps,
            no_new_privs,
            userns,
        } = c;
        CredsState {
            uids: [*uid, *euid, *suid, *fsuid],
            gids: [*gid, *egid, *sgid, *fsgid],
            groups: groups.clone(),
            caps: [*effective, *permitted, *inheritable, *bounding, *ambient],
            keep_caps: *keep_caps,
            no_new_privs: *no_new_privs,
            userns: userns.ino(),
        }
    }

    /// The credentials, in the initial user namespace: the kernel's restore puts them in
    /// theirs (`userns`) once it has made the namespaces.
    pub fn restore(&self) -> crate::creds::Creds {
        let [uid, euid, suid, fsuid] = self.uids;
        let [gid, egid, sgid, fsgid] = self.gids;
        let all = crate::creds::ALL_CAPS;
        let [effective, permitted, inheritable, bounding, ambient] = self.caps.map(|c| c & all);
        crate::creds::Creds {
            uid,
            euid,
            suid,
            fsuid,
            gid,
            egid,
            sgid,
            fsgid,
            groups: self.groups.clone(),
            effective: effective & permitted,
            permitted,
            inheritable,
            bounding,
            ambient: ambient & permitted & inheritable,
            keep_caps: self.keep_caps,
            no_new_privs: self.no_new_privs,
            userns: UserNsRef::init(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Creds {
        Creds::new(0, 0, vec![], CapSets::default_for(0), false)
    }

    fn ino(mode: u32, uid: u32, gid: u32) -> Inode {
        Inode { mode, uid, gid }
    }

    #[test]
    fn mode_bits_then_capabilities() {
        let shadow = ino(libc::S_IFREG | 0o640, 0, 42);
        let mut nobody = Creds::new(65534, 65534, vec![], CapSets::default_for(65534), false);
        assert_eq!(nobody.may(&shadow, MAY_READ), Err(libc::EACCES));
        nobody.groups.push(42);
        assert_eq!(nobody.may(&shadow, MAY_READ), Ok(()));
        assert_eq!(nobody.may(&shadow, MAY_WRITE), Err(libc::EACCES));
        assert_eq!(root().may(&shadow, MAY_READ | MAY_WRITE), Ok(()));
        // Root needs some execute bit to execute.
        assert_eq!(root().may(&shadow, MAY_EXEC), Err(libc::EACCES));
        let dir = ino(libc::S_IFDIR | 0o700, 1000, 1000);
        assert_eq!(root().may(&dir, MAY_EXEC | MAY_WRITE), Ok(()));
        // Root without DAC_OVERRIDE is just uid 0.
        let mut weak = root();
        weak.effective &= !((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH));
        let read_only = ino(libc::S_IFREG | 0o440, 0, 0);
        assert_eq!(weak.may(&read_only, MAY_WRITE), Err(libc::EACCES));
        assert_eq!(
            weak.may(&shadow, MAY_WRITE),
            Ok(()),
            "owner bits (uid 0 owns it)"
        );
        assert_eq!(weak.may(&dir, MAY_EXEC), Err(libc::EACCES));
    }

    #[test]
    fn dropping_root_drops_capabilities() {
        let mut c = root();
        c.setresgid(Some(65534), Some(65534), Some(65534)).unwrap();
        c.setuid(65534).unwrap();
        assert_eq!(
            (c.uid, c.euid, c.suid, c.fsuid),
            (65534, 65534, 65534, 65534)
        );
        assert_eq!((c.effective, c.permitted), (0, 0));
        assert_eq!(c.setuid(0), Err(libc::EPERM));
        assert_eq!(c.setuid(u32::MAX), Err(libc::EINVAL));
        // seteuid away and back keeps the permitted set.
        let mut c = root();
        c.setreuid(None, Some(1000)).unwrap();
        assert_eq!(c.effective, 0);
        assert_eq!(c.permitted, ALL_CAPS);
        c.setreuid(None, Some(0)).unwrap();
        assert_eq!(c.effective, ALL_CAPS);
        // KEEPCAPS keeps permitted, not effective.
        let mut c = root();
        c.keep_caps = true;
        c.setresuid(Some(1000), Some(1000), Some(1000)).unwrap();
        assert_eq!((c.effective, c.permitted), (0, ALL_CAPS));
    }

    #[test]
    fn unprivileged_id_changes_are_limited_to_the_current_ids() {
        let mut c = Creds::new(1000, 1000, vec![], CapSets::default_for(1000), false);
        assert_eq!(c.setuid(0), Err(libc::EPERM));
        assert_eq!(c.setresuid(None, Some(0), None), Err(libc::EPERM));
        assert_eq!(c.setgid(0), Err(libc::EPERM));
        assert_eq!(c.setfsuid(0), 1000);
        assert_eq!(c.fsuid, 1000);
        c.setresuid(Some(1000), Some(1000), Some(1000)).unwrap();
    }

    #[test]
    fn exec_of_set_user_id_root_and_no_new_privs() {
        let mut c = Creds::new(1000, 1000, vec![], CapSets::default_for(1000), false);
        assert!(c.exec(libc::S_IFREG | 0o4755, 0, 0, true));
        assert_eq!((c.uid, c.euid, c.suid), (1000, 0, 0));
        assert_eq!(c.effective, ALL_CAPS);
        let mut c = Creds::new(1000, 1000, vec![], CapSets::default_for(1000), true);
        assert!(!c.exec(libc::S_IFREG | 0o4755, 0, 0, true));
        assert_eq!((c.euid, c.effective), (1000, 0));
        let mut c = Creds::new(1000, 1000, vec![], CapSets::default_for(1000), false);
        assert!(!c.exec(libc::S_IFREG | 0o4755, 0, 0, false), "nosuid mount");
        assert_eq!(c.euid, 1000);
        // Root keeps what its bounding set allows.
        let caps = CapSets {
            effective: 1 << CAP_CHOWN,
            permitted: 1 << CAP_CHOWN,
            inheritable: 0,
            bounding: (1 << CAP_CHOWN) | (1 << CAP_KILL),
            ambient: 0,
        };
        let mut c = Creds::new(0, 0, vec![], caps, false);
        c.exec(libc::S_IFREG | 0o755, 0, 0, true);
        assert_eq!(c.effective, (1 << CAP_CHOWN) | (1 << CAP_KILL));
    }

    #[test]
    fn capset_cannot_grow() {
        let mut c = Creds::new(1000, 1000, vec![], CapSets::default_for(1000), false);
        assert_eq!(c.capset(1, 1, 0), Err(libc::EPERM));
        let mut r = root();
        r.capset(0, 1 << CAP_CHOWN, 0).unwrap();
        assert_eq!(r.capset(0, 3, 0), Err(libc::EPERM));
    }
}
