//! Pseudo-terminals (pty(7), pts(4)): devpts, the master an open of /dev/ptmx makes and
//! the replica an open of /dev/pts/N (or TIOCGPTPEER) makes, joined by a line discipline
//! ([`ldisc`]); the controlling terminal of a session and its foreground process group
//! (tty_ioctl(4)).
//!
//! A pseudo-terminal is a [`Pty`], shared by its ends. The table of them ([`Devpts`]) is
//! the file system's: /dev/pts lists the ptys whose master is open, and the kernel takes
//! from it the signals the terminals raise ([`Devpts::take_signals`]: an interrupt
//! character, a window size change, a hangup), which the ends cannot send themselves.
//!
//! Saved: each pty once, in the image's shared table under its id (the pty's number is in
//! its id: [`pty_id`]), with its settings, both queues, the line being edited, its lock,
//! its session and foreground group, and packet mode with the status the master has not
//! read; each end as the id of its pty. The table and the counts of open ends are not
//! saved: the restored ends register and count themselves again.

pub(crate) mod ldisc;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use serde::{Deserialize, Serialize};

use crate::checks::{bad, Invalid};
use crate::fs::file::{FileImpl, IoErr, IoctlCaller};
use crate::fs::persist::{
    CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx, SharedPersist,
};
use crate::mm::Errno;
use crate::wait::WaitKey;
use ldisc::{
    flow_status, Ldisc, Signals, Termios, INPUT_MAX, OUTPUT_MAX, PENDING_MAX, TERMIOS2_SIZE,
    TERMIOS_SIZE, TIOCPKT_DOSTOP, TIOCPKT_FLUSHREAD, TIOCPKT_FLUSHWRITE, TIOCPKT_IOCTL,
    TIOCPKT_NOSTOP, TIOCPKT_START, TIOCPKT_STOP,
};

/// Pty ids come from a range of their own (below the FIFOs'), apart from the kernel's
/// object ids: a pty's id is its number in this range.
const PTY_IDS: u64 = 1 << 61;
/// How many ptys may be open, as Linux's default /proc/sys/kernel/pty/max.
pub(crate) const MAX_PTYS: u32 = 4096;
/// The major device number of the replicas (UNIX98_PTY_SLAVE_MAJOR).
pub(crate) const PTS_MAJOR: u32 = 136;
/// The group that owns the replicas (devpts' `gid=5` in containers: tty).
pub(crate) const TTY_GID: u32 = 5;
/// devpts' f_type.
pub(crate) const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

// ioctl requests (asm-generic/ioctls.h) the libc crate does not name.
pub(crate) const TIOCGPTPEER: u64 = 0x5441;
const TCGETS2: u64 = 0x802c_542a;
const TCSETS2: u64 = 0x402c_542b;
const TCSETSW2: u64 = 0x402c_542c;
const TCSETSF2: u64 = 0x402c_542d;
const TIOCGPTLCK: u64 = 0x8004_5439;
const TIOCGPKT: u64 = 0x8004_5438;

/// Every status bit.
const TIOCPKT_ALL: u8 = 127;

/// The id of pty number `index`.
pub(crate) fn pty_id(index: u32) -> u64 {
    PTY_IDS + 1 + index as u64
}

/// The number of the pty of id `id`, if it is a pty's id.
fn pty_index(id: u64) -> Option<u32> {
    let n = id.checked_sub(PTY_IDS + 1)?;
    (n < MAX_PTYS as u64).then_some(n as u32)
}

/// A signal a terminal raises, for the kernel to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TtySignal {
    /// To every process of a process group.
    Group(i32, i32),
    /// To the leader of a session (a hangup).
    Leader(i32, i32),
}

/// devpts: the ptys by number.
#[derive(Default)]
pub(crate) struct Devpts {
    ptys: RefCell<BTreeMap<u32, Weak<RefCell<Pty>>>>,
    signals: RefCell<Vec<TtySignal>>,
}

impl Devpts {
    /// A new pty and its master, for an open of /dev/ptmx by user `owner`: the lowest
    /// free number; ENOSPC when every number is taken.
    pub(crate) fn open_master(self: &Rc<Self>, owner: u32) -> Result<PtyMaster, Errno> {
        let mut ptys = self.ptys.borrow_mut();
        ptys.retain(|_, p| p.strong_count() > 0);
        let index = (0..MAX_PTYS)
            .find(|i| !ptys.contains_key(i))
            .ok_or(libc::ENOSPC)?;
        let pty = Rc::new(RefCell::new(Pty::new(index, owner, self.clone())));
        ptys.insert(index, Rc::downgrade(&pty));
        drop(ptys);
        Ok(PtyMaster::new(pty))
    }

    /// Pty `index`, if its master is open (what /dev/pts shows).
    pub(crate) fn get(&self, index: u32) -> Option<Rc<RefCell<Pty>>> {
        let p = self.ptys.borrow().get(&index)?.upgrade()?;
        let open = p.borrow().masters > 0;
        open.then_some(p)
    }

    /// The numbers /dev/pts lists, with their owners.
    pub(crate) fn entries(&self) -> Vec<(u32, u32)> {
        let ptys = self.ptys.borrow();
        ptys.values()
            .filter_map(Weak::upgrade)
            .filter_map(|p| {
                p.try_borrow()
                    .ok()
                    .filter(|p| p.masters > 0)
                    .map(|p| (p.index, p.owner))
            })
            .collect()
    }

    /// The controlling terminal of session `sid`, if it has one.
    pub(crate) fn ctty_of(&self, sid: i32) -> Option<Rc<RefCell<Pty>>> {
        let ptys = self.ptys.borrow();
        ptys.values().filter_map(Weak::upgrade).find(|p| {
            p.try_borrow()
                .is_ok_and(|p| p.session == Some(sid) && !p.hungup)
        })
    }

    /// The leader of session `sid` exited: the session's controlling terminal is free
    /// again, and its foreground group gets SIGHUP (disassociate_ctty).
    pub(crate) fn session_ended(&self, sid: i32) {
        if let Some(pty) = self.ctty_of(sid) {
            let mut p = pty.borrow_mut();
            if let Some(fg) = p.fg.take() {
                self.raise(TtySignal::Group(fg, libc::SIGHUP));
            }
            p.session = None;
        }
    }

    /// The signals the terminals raised since the last call, for the kernel to send.
    pub(crate) fn take_signals(&self) -> Vec<TtySignal> {
        std::mem::take(&mut *self.signals.borrow_mut())
    }

    fn raise(&self, s: TtySignal) {
        self.signals.borrow_mut().push(s);
    }

    /// Registers a restored pty under its number.
    fn register(&self, pty: &Rc<RefCell<Pty>>) {
        let index = pty.borrow().index;
        self.ptys.borrow_mut().insert(index, Rc::downgrade(pty));
    }
}

/// A pseudo-terminal: the line discipline between its ends, and its session.
pub struct Pty {
    index: u32,
    /// The user the replica belongs to (who opened the master).
    owner: u32,
    devpts: Rc<Devpts>,
    ld: Ldisc,
    /// ws_row, ws_col, ws_xpixel, ws_ypixel.
    winsize: [u16; 4],
    /// unlockpt has not been called: the replica cannot be opened.
    locked: bool,
    /// The session it is the controlling terminal of.
    session: Option<i32>,
    /// Its foreground process group.
    fg: Option<i32>,
    /// Open ends.
    masters: u32,
    replicas: u32,
    /// Every replica opened has closed (the master reads EIO once its queue is empty).
    other_closed: bool,
    /// The master closed: the replicas are hung up.
    hungup: bool,
    /// Packet mode (TIOCPKT on the master): each master read starts with a status byte.
    packet: bool,
    /// In packet mode, the changes (`TIOCPKT_*`) the master has not read yet.
    packet_status: u8,
}

impl Pty {
    fn new(index: u32, owner: u32, devpts: Rc<Devpts>) -> Self {
        Pty {
            index,
            owner,
            devpts,
            ld: Ldisc::new(),
            winsize: [0; 4],
            locked: true,
            session: None,
            fg: None,
            masters: 0,
            replicas: 0,
            other_closed: false,
            hungup: false,
            packet: false,
            packet_status: 0,
        }
    }

    fn key(&self) -> WaitKey {
        WaitKey::Object(pty_id(self.index))
    }

    /// Its number (/dev/pts/N).
    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// Whether background writers are stopped (TOSTOP).
    pub(crate) fn tostop(&self) -> bool {
        self.ld.termios.lflag & libc::TOSTOP != 0
    }

    /// Its session and foreground process group (/proc/PID/stat's tty_nr and tpgid).
    pub(crate) fn session(&self) -> (Option<i32>, Option<i32>) {
        (self.session, self.fg)
    }

    /// Whether the replica may be opened: ENOENT once the master closed, EIO while locked.
    pub(crate) fn may_open_replica(&self) -> Result<(), Errno> {
        if self.masters == 0 || self.hungup {
            return Err(libc::ENOENT);
        }
        if self.locked {
            return Err(libc::EIO);
        }
        Ok(())
    }

    /// It becomes the controlling terminal of session `sid` with `pgid` in the
    /// foreground (an open by a session leader without one, TIOCSCTTY).
    pub(crate) fn set_ctty(&mut self, sid: i32, pgid: i32) {
        self.session = Some(sid);
        self.fg = Some(pgid);
    }

    /// Takes in the input that waits for room, raising its signals.
    fn take_in(&mut self) {
        let mut sigs = Signals::default();
        self.ld.take_in(&mut sigs);
        self.took_in(sigs);
    }

    /// After input was taken in: the signals it raised go to the foreground group, and
    /// packet mode learns of what they flushed and of output stopped or started (Linux's
    /// isig, stop_tty and start_tty of the replica).
    fn took_in(&mut self, sigs: Signals) {
        if self.packet {
            let mut st = self.packet_status;
            if sigs.status & (TIOCPKT_STOP | TIOCPKT_START) != 0 {
                st &= !(TIOCPKT_STOP | TIOCPKT_START);
            }
            self.packet_status = st | sigs.status;
        }
        for s in sigs.sigs {
            self.signal_fg(s);
        }
    }

    /// In packet mode, `bits` become status for the master to read.
    fn report(&mut self, bits: u8) {
        if self.packet {
            self.packet_status |= bits;
        }
    }

    /// In packet mode, the replica's output stopped or started since it `was` stopped.
    fn stop_changed(&mut self, was: bool) {
        if self.packet && self.ld.stopped != was {
            self.packet_status = flow_status(self.packet_status, self.ld.stopped);
        }
    }

    /// In packet mode, new settings `new` after `old` (Linux's pty_set_termios): whether
    /// the STOP and START characters (^S, ^Q) now stop output, and EXTPROC's ioctl.
    fn termios_changed(&mut self, old: &Termios, new: &Termios) {
        if !self.packet {
            return;
        }
        let flow = |t: &Termios| {
            t.iflag & libc::IXON != 0 && t.cc[ldisc::VSTOP] == 0o23 && t.cc[ldisc::VSTART] == 0o21
        };
        let (was, now) = (flow(old), flow(new));
        if was != now {
            self.packet_status &= !(TIOCPKT_DOSTOP | TIOCPKT_NOSTOP);
            self.packet_status |= if now { TIOCPKT_DOSTOP } else { TIOCPKT_NOSTOP };
        }
        if (old.lflag | new.lflag) & libc::EXTPROC != 0 {
            self.packet_status |= TIOCPKT_IOCTL;
        }
    }

    fn signal_fg(&self, sig: i32) {
        if let Some(fg) = self.fg {
            self.devpts.raise(TtySignal::Group(fg, sig));
        }
    }

    /// Input written to the master.
    fn input(&mut self, data: &[u8]) -> Result<usize, IoErr> {
        let mut sigs = Signals::default();
        let n = self.ld.input(data, &mut sigs);
        self.took_in(sigs);
        if n == 0 && !data.is_empty() {
            return Err(IoErr::Block(self.key()));
        }
        Ok(n)
    }

    /// The ioctls both ends serve (on the replica's terminal, as Linux's master does).
    /// None: not one of them.
    fn ioctl(
        &mut self,
        c: &mut dyn IoctlCaller,
        req: u64,
        arg: u64,
        master: bool,
    ) -> Option<Result<i64, Errno>> {
        let mine = self.session == Some(c.sid());
        let r = match req {
            libc::TCGETS | TCGETS2 => {
                let b = self.ld.termios.to_bytes(req == TCGETS2);
                c.copy_out(arg, &b).map(|_| 0)
            }
            libc::TCSETS | libc::TCSETSW | libc::TCSETSF | TCSETS2 | TCSETSW2 | TCSETSF2 => {
                let two = matches!(req, TCSETS2 | TCSETSW2 | TCSETSF2);
                let size = if two { TERMIOS2_SIZE } else { TERMIOS_SIZE };
                c.copy_in(arg, size).map(|b| {
                    if matches!(req, libc::TCSETSF | TCSETSF2) {
                        self.ld.flush(true, false);
                        self.report(TIOCPKT_FLUSHREAD);
                    }
                    let (old, was) = (self.ld.termios, self.ld.stopped);
                    let t = old.updated_from(&b);
                    self.ld.set_termios(t);
                    self.termios_changed(&old, &t);
                    self.stop_changed(was);
                    self.take_in();
                    0
                })
            }
            libc::TIOCGWINSZ => {
                let b: Vec<u8> = self.winsize.iter().flat_map(|v| v.to_le_bytes()).collect();
                c.copy_out(arg, &b).map(|_| 0)
            }
            libc::TIOCSWINSZ => c.copy_in(arg, 8).map(|b| {
                let ws: [u16; 4] =
                    std::array::from_fn(|i| u16::from_le_bytes([b[2 * i], b[2 * i + 1]]));
                if ws != self.winsize {
                    self.winsize = ws;
                    self.signal_fg(libc::SIGWINCH);
                }
                0
            }),
            libc::FIONREAD => {
                let n = if master {
                    self.ld.tx.len()
                } else {
                    self.ld.readable_bytes()
                };
                c.copy_out(arg, &(n as i32).to_le_bytes()).map(|_| 0)
            }
            // Linux's ptys keep no output of their own.
            libc::TIOCOUTQ => c.copy_out(arg, &0i32.to_le_bytes()).map(|_| 0),
            libc::TCFLSH => {
                let (i, o) = match arg {
                    0 => (true, false),
                    1 => (false, true),
                    2 => (true, true),
                    _ => return Some(Err(libc::EINVAL)),
                };
                // The master's input is what the replica writes.
                let (rx, tx) = if master { (o, i) } else { (i, o) };
                self.ld.flush(rx, tx);
                // Packet mode reports the replica's flushes only.
                if !master {
                    let read = if i { TIOCPKT_FLUSHREAD } else { 0 };
                    let write = if o { TIOCPKT_FLUSHWRITE } else { 0 };
                    self.report(read | write);
                }
                self.take_in();
                Ok(0)
            }
            libc::TCXONC => match arg {
                0 | 1 => {
                    let was = self.ld.stopped;
                    self.ld.stopped = arg == 0;
                    // Packet mode reports the replica's output stopping and starting.
                    if !master {
                        self.stop_changed(was);
                    }
                    Ok(0)
                }
                2 | 3 => {
                    let ch = self.ld.termios.cc[if arg == 2 { 9 } else { 8 }];
                    if ch != 0 {
                        self.ld.tx.push_back(ch);
                    }
                    Ok(0)
                }
                _ => Err(libc::EINVAL),
            },
            libc::TIOCGETD => c.copy_out(arg, &0i32.to_le_bytes()).map(|_| 0),
            // A break means nothing to a pty.
            libc::TCSBRK | libc::TCSBRKP => Ok(0),
            libc::TIOCGPGRP => {
                if !master && !mine {
                    return Some(Err(libc::ENOTTY));
                }
                let fg = self.fg.unwrap_or(0);
                c.copy_out(arg, &fg.to_le_bytes()).map(|_| 0)
            }
            libc::TIOCSPGRP => {
                if !mine {
                    return Some(Err(libc::ENOTTY));
                }
                c.copy_in(arg, 4).and_then(|b| {
                    let pgid = i32::from_le_bytes(b.try_into().expect("4 bytes"));
                    if pgid < 0 {
                        return Err(libc::EINVAL);
                    }
                    match c.group_session(pgid) {
                        None => Err(libc::ESRCH),
                        Some(s) if Some(s) != self.session => Err(libc::EPERM),
                        Some(_) => {
                            self.fg = Some(pgid);
                            Ok(0)
                        }
                    }
                })
            }
            libc::TIOCGSID => {
                let Some(sid) = self.session.filter(|_| master || mine) else {
                    return Some(Err(libc::ENOTTY));
                };
                c.copy_out(arg, &sid.to_le_bytes()).map(|_| 0)
            }
            _ => return None,
        };
        Some(r)
    }
}

/// The master end.
pub struct PtyMaster {
    pty: Rc<RefCell<Pty>>,
}

impl PtyMaster {
    fn new(pty: Rc<RefCell<Pty>>) -> Self {
        pty.borrow_mut().masters += 1;
        PtyMaster { pty }
    }

    /// Its pty (TIOCGPTPEER opens the replica of it).
    pub(crate) fn pty(&self) -> &Rc<RefCell<Pty>> {
        &self.pty
    }
}

impl Drop for PtyMaster {
    fn drop(&mut self) {
        let mut p = self.pty.borrow_mut();
        p.masters -= 1;
        if p.masters == 0 {
            // The replicas hang up; the session leader gets SIGHUP and SIGCONT, and the
            // session loses its terminal.
            p.hungup = true;
            if let Some(sid) = p.session.take() {
                p.devpts.raise(TtySignal::Leader(sid, libc::SIGHUP));
                p.devpts.raise(TtySignal::Leader(sid, libc::SIGCONT));
            }
            p.fg = None;
        }
    }
}

/// The stat of a terminal node: `node` as devfs shows it by path, so that fstat and stat
/// of its path agree (ttyname compares them).
fn node_stat(node: crate::fs::TtyNode) -> libc::stat {
    crate::fs::synth_stat(
        &crate::fs::SynthNode::Tty(node),
        crate::fs::ino_of(&format!("dev/{}", node.path())),
    )
}

/// What both ends answer alike.
macro_rules! tty_ops {
    () => {
        fn notify_key(&self) -> Option<WaitKey> {
            Some(self.pty.borrow().key())
        }

        fn is_stream(&self) -> bool {
            true
        }

        fn signals_io(&self) -> bool {
            true
        }

        fn statfs(&self) -> Option<Result<libc::statfs, Errno>> {
            Some(Ok(crate::fs::synth_statfs(DEVPTS_SUPER_MAGIC)))
        }
    };
}

impl FileImpl for PtyMaster {
    /// In packet mode a read returns the status byte alone while there is one, else
    /// TIOCPKT_DATA (0) and the data.
    fn read(&mut self, _pos: &mut u64, len: usize, _off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        let mut p = self.pty.borrow_mut();
        if len == 0 {
            return Ok(Vec::new());
        }
        if p.packet && p.packet_status != 0 {
            return Ok(vec![std::mem::take(&mut p.packet_status)]);
        }
        if p.ld.tx.is_empty() {
            if p.other_closed {
                return Err(IoErr::Errno(libc::EIO));
            }
            return Err(IoErr::Block(p.key()));
        }
        let mut out = Vec::new();
        if p.packet {
            out.push(0);
        }
        let n = (len - out.len()).min(p.ld.tx.len());
        out.extend(p.ld.tx.drain(..n));
        Ok(out)
    }

    fn write(&mut self, _pos: &mut u64, data: &[u8], _off: Option<u64>) -> Result<usize, IoErr> {
        self.pty.borrow_mut().input(data)
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let p = self.pty.borrow();
        let mut r = 0;
        if !p.ld.tx.is_empty() {
            r |= libc::POLLIN;
        }
        if p.packet && p.packet_status != 0 {
            r |= libc::POLLIN | libc::POLLPRI;
        }
        if p.ld.input_room() > 0 {
            r |= libc::POLLOUT;
        }
        if p.other_closed {
            r |= libc::POLLHUP;
        }
        (r & (events | libc::POLLHUP), vec![p.key()])
    }

    fn ioctl(&mut self, c: &mut dyn IoctlCaller, req: u64, arg: u64) -> Result<i64, Errno> {
        let mut p = self.pty.borrow_mut();
        match req {
            libc::TIOCGPTN => c.copy_out(arg, &p.index.to_le_bytes()).map(|_| 0),
            libc::TIOCSPTLCK => {
                let v = c.copy_in(arg, 4)?;
                p.locked = v != [0; 4];
                Ok(0)
            }
            TIOCGPTLCK => c.copy_out(arg, &(p.locked as i32).to_le_bytes()).map(|_| 0),
            libc::TIOCPKT => {
                let on = c.copy_in(arg, 4)? != [0; 4];
                if on && !p.packet {
                    p.packet_status = 0;
                }
                p.packet = on;
                Ok(0)
            }
            TIOCGPKT => c.copy_out(arg, &(p.packet as i32).to_le_bytes()).map(|_| 0),
            // TIOCSCTTY on the master takes the replica's terminal, as Linux's does.
            libc::TIOCSCTTY => {
                drop(p);
                set_ctty(&self.pty, c, arg)
            }
            // A master is never a controlling terminal.
            libc::TIOCNOTTY => Err(libc::ENOTTY),
            _ => p.ioctl(c, req, arg, true).unwrap_or(Err(libc::ENOTTY)),
        }
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        Ok(node_stat(crate::fs::TtyNode::Ptmx))
    }

    fn reopen(&self, _flags: i32) -> Result<Box<dyn FileImpl>, Errno> {
        // /proc/PID/fd/N of a master opens /dev/ptmx's inode: a new pty, as Linux. The
        // open path makes it (it needs the table); reached here, the open is refused.
        Err(libc::ENXIO)
    }

    tty_ops!();
}

/// A replica end (/dev/pts/N, or /dev/tty naming it).
pub struct PtyReplica {
    pty: Rc<RefCell<Pty>>,
    /// Opened as /dev/tty (its stat is /dev/tty's).
    dev_tty: bool,
}

impl PtyReplica {
    /// A new replica of `pty`; the caller checked [`Pty::may_open_replica`].
    pub(crate) fn new(pty: Rc<RefCell<Pty>>, dev_tty: bool) -> Self {
        {
            let mut p = pty.borrow_mut();
            p.replicas += 1;
            p.other_closed = false;
        }
        PtyReplica { pty, dev_tty }
    }

    /// Its pty.
    pub(crate) fn pty(&self) -> &Rc<RefCell<Pty>> {
        &self.pty
    }

    /// A raw read's VTIME: how long it waits, and whether it has waited long enough to
    /// return what there is (see [`Ldisc::times_out`]).
    pub(crate) fn read_timeout_ns(&self) -> Option<u64> {
        let p = self.pty.borrow();
        p.ld.read_timeout_ns().filter(|_| p.ld.times_out())
    }

    /// A raw read whose VTIME ran out: what is readable now, perhaps nothing.
    pub(crate) fn read_now(&self, len: usize) -> Vec<u8> {
        let mut p = self.pty.borrow_mut();
        let b = p.ld.take(len);
        p.take_in();
        b
    }
}

impl Drop for PtyReplica {
    fn drop(&mut self) {
        let mut p = self.pty.borrow_mut();
        p.replicas -= 1;
        if p.replicas == 0 {
            p.other_closed = true;
        }
    }
}

impl FileImpl for PtyReplica {
    fn read(&mut self, _pos: &mut u64, len: usize, _off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        let mut p = self.pty.borrow_mut();
        if p.hungup {
            return Ok(Vec::new());
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        let r = p.ld.read(len);
        p.take_in();
        match r {
            Some(b) => Ok(b),
            None => Err(IoErr::Block(p.key())),
        }
    }

    fn write(&mut self, _pos: &mut u64, data: &[u8], _off: Option<u64>) -> Result<usize, IoErr> {
        let mut p = self.pty.borrow_mut();
        if p.hungup {
            return Err(IoErr::Errno(libc::EIO));
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = if p.ld.stopped { 0 } else { p.ld.output(data) };
        if n == 0 {
            return Err(IoErr::Block(p.key()));
        }
        Ok(n)
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let p = self.pty.borrow();
        if p.hungup {
            let all = libc::POLLIN | libc::POLLOUT | libc::POLLERR | libc::POLLHUP;
            return (
                all & (events | libc::POLLERR | libc::POLLHUP),
                vec![p.key()],
            );
        }
        let mut r = 0;
        if p.ld.readable(true) {
            r |= libc::POLLIN;
        }
        if !p.ld.stopped && OUTPUT_MAX - p.ld.tx.len() >= 2 {
            r |= libc::POLLOUT;
        }
        (r & events, vec![p.key()])
    }

    fn ioctl(&mut self, c: &mut dyn IoctlCaller, req: u64, arg: u64) -> Result<i64, Errno> {
        if self.pty.borrow().hungup {
            return Err(if req == libc::TIOCSPGRP {
                libc::ENOTTY
            } else {
                libc::EIO
            });
        }
        match req {
            libc::TIOCSCTTY => set_ctty(&self.pty, c, arg),
            libc::TIOCNOTTY => {
                let mut p = self.pty.borrow_mut();
                if p.session != Some(c.sid()) {
                    return Err(libc::ENOTTY);
                }
                if c.tgid() == c.sid() {
                    // The session leader gives it up: its foreground group is hung up.
                    if let Some(fg) = p.fg.take() {
                        p.devpts.raise(TtySignal::Group(fg, libc::SIGHUP));
                        p.devpts.raise(TtySignal::Group(fg, libc::SIGCONT));
                    }
                    p.session = None;
                }
                Ok(0)
            }
            _ => {
                let mut p = self.pty.borrow_mut();
                p.ioctl(c, req, arg, false).unwrap_or(Err(libc::ENOTTY))
            }
        }
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        let p = self.pty.borrow();
        Ok(node_stat(if self.dev_tty {
            crate::fs::TtyNode::Tty
        } else {
            crate::fs::TtyNode::Pts {
                index: p.index,
                uid: p.owner,
            }
        }))
    }

    /// /proc/PID/fd/N of a replica opens the replica again (while it may be opened).
    fn reopen(&self, _flags: i32) -> Result<Box<dyn FileImpl>, Errno> {
        self.pty.borrow().may_open_replica()?;
        Ok(Box::new(PtyReplica::new(self.pty.clone(), false)))
    }

    tty_ops!();
}

/// TIOCSCTTY (of either end): the caller's session takes the terminal of `pty`, if the
/// caller leads a session that has none; a terminal of another session is taken only with
/// `arg` 1 and CAP_SYS_ADMIN.
fn set_ctty(pty: &Rc<RefCell<Pty>>, c: &mut dyn IoctlCaller, arg: u64) -> Result<i64, Errno> {
    let sid = c.sid();
    if pty.borrow().session == Some(sid) {
        return Ok(0);
    }
    if c.tgid() != sid {
        return Err(libc::EPERM);
    }
    let devpts = pty.borrow().devpts.clone();
    if devpts.ctty_of(sid).is_some() {
        return Err(libc::EPERM);
    }
    let mut p = pty.borrow_mut();
    if p.session.is_some() && !(arg == 1 && c.capable(crate::creds::CAP_SYS_ADMIN)) {
        return Err(libc::EPERM);
    }
    p.set_ctty(sid, c.pgid());
    Ok(0)
}

/// A saved pty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PtyState {
    pub owner: u32,
    pub termios: Termios,
    pub pending: Vec<u8>,
    pub rx: Vec<u8>,
    pub lines: Vec<u64>,
    pub line: Vec<u8>,
    pub tx: Vec<u8>,
    pub stopped: bool,
    pub column: u32,
    pub winsize: [u16; 4],
    pub locked: bool,
    pub session: Option<i32>,
    pub fg: Option<i32>,
    pub other_closed: bool,
    pub hungup: bool,
    /// Packet mode (TIOCPKT) and the status the master has not read.
    pub packet: bool,
    pub packet_status: u8,
}

impl SharedPersist for Pty {
    type State = PtyState;
    const WHAT: &'static str = "pty";

    fn save(&self, _: &mut SaveCtx) -> PtyState {
        let Pty {
            index: _,  // in its id
            devpts: _, // the restored ends register it again
            owner,
            ld:
                Ldisc {
                    termios,
                    pending,
                    rx,
                    lines,
                    line,
                    tx,
                    stopped,
                    column,
                },
            winsize,
            locked,
            session,
            fg,
            masters: _,  // counted again by the restored ends
            replicas: _, // counted again by the restored ends
            other_closed,
            hungup,
            packet,
            packet_status,
        } = self;
        PtyState {
            owner: *owner,
            termios: *termios,
            pending: pending.iter().copied().collect(),
            rx: rx.iter().copied().collect(),
            lines: lines.iter().map(|&l| l as u64).collect(),
            line: line.clone(),
            tx: tx.iter().copied().collect(),
            stopped: *stopped,
            column: *column,
            winsize: *winsize,
            locked: *locked,
            session: *session,
            fg: *fg,
            other_closed: *other_closed,
            hungup: *hungup,
            packet: *packet,
            packet_status: *packet_status,
        }
    }

    fn kernel_object_id(_: u64) -> bool {
        false
    }

    fn restore(id: u64, s: &PtyState) -> Pty {
        let mut p = Pty::new(
            pty_index(id).unwrap_or(0),
            s.owner,
            Rc::new(Devpts::default()),
        );
        p.ld = Ldisc {
            termios: s.termios,
            pending: s.pending.iter().copied().collect(),
            rx: s.rx.iter().copied().collect(),
            lines: s.lines.iter().map(|&l| l as usize).collect(),
            line: s.line.clone(),
            tx: s.tx.iter().copied().collect(),
            stopped: s.stopped,
            column: s.column,
        };
        p.winsize = s.winsize;
        p.locked = s.locked;
        p.session = s.session;
        p.fg = s.fg;
        p.other_closed = s.other_closed;
        p.hungup = s.hungup;
        p.packet = s.packet;
        p.packet_status = s.packet_status;
        p
    }

    /// The restored pty joins the new kernel's devpts.
    fn relink(
        this: &Rc<RefCell<Self>>,
        _: &PtyState,
        cx: &mut RestoreCtx,
    ) -> Result<(), KindError> {
        let devpts = cx.vfs().devpts.clone();
        devpts.register(this);
        this.borrow_mut().devpts = devpts;
        Ok(())
    }

    fn check(object: &str, s: &PtyState) -> Result<(), Invalid> {
        let b = |field, problem: String| Err(bad(object, field, problem));
        if s.pending.len() > PENDING_MAX {
            return b(
                "pending input",
                format!("holds {} bytes, more than {PENDING_MAX}", s.pending.len()),
            );
        }
        if s.rx.len() > INPUT_MAX {
            return b(
                "input",
                format!("holds {} bytes, more than {INPUT_MAX}", s.rx.len()),
            );
        }
        if s.line.len() >= INPUT_MAX {
            return b(
                "line",
                format!(
                    "holds {} bytes, a line holds less than {INPUT_MAX}",
                    s.line.len()
                ),
            );
        }
        if s.tx.len() > OUTPUT_MAX {
            return b(
                "output",
                format!("holds {} bytes, more than {OUTPUT_MAX}", s.tx.len()),
            );
        }
        let total = s
            .lines
            .iter()
            .try_fold(0u64, |a, &l| a.checked_add(l & !(ldisc::EOF_MARK as u64)));
        if total.is_none_or(|t| t > s.rx.len() as u64) {
            return b("lines", "are longer than the input they divide".into());
        }
        if s.column > 1 << 20 {
            return b("column", format!("{} is out of range", s.column));
        }
        for (field, id) in [("session", s.session), ("foreground group", s.fg)] {
            if let Some(id) = id.filter(|&id| !(1..crate::checks::PID_MAX).contains(&id)) {
                return b(field, format!("{id} is not a process id"));
            }
        }
        if s.packet_status & !TIOCPKT_ALL != 0 || (s.packet_status != 0 && !s.packet) {
            return b(
                "packet status",
                format!("{:#x} is not a status of packet mode", s.packet_status),
            );
        }
        if s.fg.is_some() && s.session.is_none() {
            return b("foreground group", "is set without a session".into());
        }
        Ok(())
    }
}

/// A saved end: the id of its pty in the shared table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PtyEndState {
    pub pty: u64,
    /// A replica opened as /dev/tty.
    pub dev_tty: bool,
}

fn save_end(pty: &Rc<RefCell<Pty>>, dev_tty: bool, cx: &mut SaveCtx) -> PtyEndState {
    let p = pty.borrow();
    let id = pty_id(p.index);
    cx.share(id, &*p);
    PtyEndState { pty: id, dev_tty }
}

fn check_end(cx: &CheckCtx, s: &PtyEndState) -> Result<(), Invalid> {
    if pty_index(s.pty).is_none() {
        return Err(cx.bad("pty", format!("{} is not a pty's id", s.pty)));
    }
    if !cx.has_shared::<Pty>(s.pty) {
        return Err(cx.bad("pty", format!("{} does not exist", s.pty)));
    }
    Ok(())
}

impl Persist for PtyMaster {
    type State = PtyEndState;

    fn save(&self, cx: &mut SaveCtx) -> PtyEndState {
        let PtyMaster { pty } = self;
        save_end(pty, false, cx)
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &PtyEndState) -> Result<Self, KindError> {
        Ok(PtyMaster::new(cx.shared::<Pty>(s.pty)?))
    }

    fn check(cx: &CheckCtx, s: &PtyEndState) -> Result<(), Invalid> {
        check_end(cx, s)?;
        if s.dev_tty {
            return Err(cx.bad("dev_tty", "is set on a master"));
        }
        Ok(())
    }
}

impl Persist for PtyReplica {
    type State = PtyEndState;

    fn save(&self, cx: &mut SaveCtx) -> PtyEndState {
        let PtyReplica { pty, dev_tty } = self;
        save_end(pty, *dev_tty, cx)
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &PtyEndState) -> Result<Self, KindError> {
        Ok(PtyReplica::new(cx.shared::<Pty>(s.pty)?, s.dev_tty))
    }

    fn check(cx: &CheckCtx, s: &PtyEndState) -> Result<(), Invalid> {
        check_end(cx, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::file::OpenFile;

    /// A caller at a fixed address space of one buffer, process 10 leading session 10 in
    /// group 10.
    struct Caller {
        mem: Vec<u8>,
    }

    const AT: u64 = 0x1000;

    impl IoctlCaller for Caller {
        fn copy_in(&self, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
            let off = addr.checked_sub(AT).ok_or(libc::EFAULT)? as usize;
            self.mem
                .get(off..off + len)
                .map(<[u8]>::to_vec)
                .ok_or(libc::EFAULT)
        }
        fn copy_out(&mut self, addr: u64, data: &[u8]) -> Result<(), Errno> {
            let off = addr.checked_sub(AT).ok_or(libc::EFAULT)? as usize;
            let dst = self
                .mem
                .get_mut(off..off + data.len())
                .ok_or(libc::EFAULT)?;
            dst.copy_from_slice(data);
            Ok(())
        }
        fn pgid(&self) -> i32 {
            10
        }
        fn sid(&self) -> i32 {
            10
        }
        fn tgid(&self) -> i32 {
            10
        }
        fn group_session(&self, pgid: i32) -> Option<i32> {
            (pgid == 10 || pgid == 11).then_some(10)
        }
        fn capable(&self, _: u32) -> bool {
            false
        }
    }

    fn caller() -> Caller {
        Caller { mem: vec![0; 64] }
    }

    fn int(c: &Caller) -> i32 {
        i32::from_le_bytes(c.mem[..4].try_into().unwrap())
    }

    fn pair(devpts: &Rc<Devpts>) -> (PtyMaster, PtyReplica) {
        let mut m = devpts.open_master(0).unwrap();
        let mut c = caller();
        assert_eq!(m.ioctl(&mut c, libc::TIOCSPTLCK, AT), Ok(0));
        let pty = m.pty().clone();
        pty.borrow().may_open_replica().unwrap();
        (m, PtyReplica::new(pty, false))
    }

    fn write(f: &mut dyn FileImpl, b: &[u8]) -> Result<usize, IoErr> {
        f.write(&mut 0, b, None)
    }

    fn read(f: &mut dyn FileImpl, n: usize) -> Result<Vec<u8>, IoErr> {
        f.read(&mut 0, n, None)
    }

    #[test]
    fn a_line_typed_on_the_master_reaches_the_replica_and_echoes() {
        let devpts = Rc::new(Devpts::default());
        let (mut m, mut r) = pair(&devpts);
        assert!(matches!(read(&mut r, 10), Err(IoErr::Block(_))));
        assert_eq!(write(&mut m, b"hi\r"), Ok(3));
        assert_eq!(read(&mut r, 10).unwrap(), b"hi\n");
        assert_eq!(read(&mut m, 10).unwrap(), b"hi\r\n");
        assert_eq!(write(&mut r, b"out\n"), Ok(4));
        assert_eq!(read(&mut m, 100).unwrap(), b"out\r\n");
        assert_eq!(r.stat().unwrap().st_rdev, libc::makedev(136, 0));
        assert_eq!(r.stat().unwrap().st_mode, libc::S_IFCHR | 0o620);
        assert_eq!(devpts.entries(), vec![(0, 0)]);
    }

    #[test]
    fn the_number_lock_and_settings_are_ioctls() {
        let devpts = Rc::new(Devpts::default());
        let mut m = devpts.open_master(0).unwrap();
        let mut c = caller();
        assert_eq!(m.ioctl(&mut c, libc::TIOCGPTN, AT), Ok(0));
        assert_eq!(int(&c), 0);
        assert_eq!(m.ioctl(&mut c, TIOCGPTLCK, AT), Ok(0));
        assert_eq!(int(&c), 1);
        assert_eq!(m.pty().borrow().may_open_replica(), Err(libc::EIO));
        assert_eq!(m.ioctl(&mut c, libc::TIOCGPTN, 8), Err(libc::EFAULT));
        assert_eq!(m.ioctl(&mut c, 0x1234, AT), Err(libc::ENOTTY));
        assert_eq!(m.ioctl(&mut c, libc::TCFLSH, 7), Err(libc::EINVAL));
        // A second master takes the next number.
        let m2 = devpts.open_master(0).unwrap();
        assert_eq!(m2.pty().borrow().index(), 1);
        drop(m);
        let m3 = devpts.open_master(0).unwrap();
        assert_eq!(m3.pty().borrow().index(), 0, "the lowest free number");
        // Raw mode through TCSETS as cfmakeraw sets it.
        let (mut m, mut r) = pair(&Rc::new(Devpts::default()));
        assert_eq!(m.ioctl(&mut c, libc::TCGETS, AT), Ok(0));
        let mut t = Termios::replica_default().updated_from(&c.mem[..TERMIOS_SIZE]);
        assert_eq!(t, Termios::replica_default());
        t.lflag &= !(libc::ICANON | libc::ECHO);
        c.mem[..TERMIOS_SIZE].copy_from_slice(&t.to_bytes(false));
        assert_eq!(r.ioctl(&mut c, libc::TCSETS, AT), Ok(0));
        assert_eq!(write(&mut m, b"x"), Ok(1));
        assert_eq!(read(&mut r, 10).unwrap(), b"x");
        assert!(matches!(read(&mut m, 10), Err(IoErr::Block(_))), "no echo");
    }

    #[test]
    fn controlling_terminal_signals_and_window_size() {
        let devpts = Rc::new(Devpts::default());
        let (mut m, mut r) = pair(&devpts);
        let mut c = caller();
        assert_eq!(r.ioctl(&mut c, libc::TIOCGPGRP, AT), Err(libc::ENOTTY));
        assert_eq!(r.ioctl(&mut c, libc::TIOCSCTTY, 0), Ok(0));
        assert!(devpts.ctty_of(10).is_some());
        assert_eq!(r.ioctl(&mut c, libc::TIOCGPGRP, AT), Ok(0));
        assert_eq!(int(&c), 10);
        c.mem[..4].copy_from_slice(&12i32.to_le_bytes());
        assert_eq!(r.ioctl(&mut c, libc::TIOCSPGRP, AT), Err(libc::ESRCH));
        c.mem[..4].copy_from_slice(&11i32.to_le_bytes());
        assert_eq!(r.ioctl(&mut c, libc::TIOCSPGRP, AT), Ok(0));
        assert_eq!(write(&mut m, b"\x03"), Ok(1));
        assert_eq!(
            devpts.take_signals(),
            vec![TtySignal::Group(11, libc::SIGINT)]
        );
        c.mem[..8].copy_from_slice(&[24, 0, 80, 0, 0, 0, 0, 0]);
        assert_eq!(m.ioctl(&mut c, libc::TIOCSWINSZ, AT), Ok(0));
        assert_eq!(
            devpts.take_signals(),
            vec![TtySignal::Group(11, libc::SIGWINCH)]
        );
        c.mem[..8].fill(0);
        assert_eq!(r.ioctl(&mut c, libc::TIOCGWINSZ, AT), Ok(0));
        assert_eq!(&c.mem[..4], &[24, 0, 80, 0]);
        // The master closes: the replica hangs up and the session leader gets SIGHUP.
        drop(m);
        assert_eq!(
            devpts.take_signals(),
            vec![
                TtySignal::Leader(10, libc::SIGHUP),
                TtySignal::Leader(10, libc::SIGCONT)
            ]
        );
        assert_eq!(read(&mut r, 10).unwrap(), b"");
        assert_eq!(write(&mut r, b"x"), Err(IoErr::Errno(libc::EIO)));
        assert_eq!(r.ioctl(&mut c, libc::TCGETS, AT), Err(libc::EIO));
        assert!(devpts.entries().is_empty());
        assert!(devpts.ctty_of(10).is_none());
    }

    #[test]
    fn packet_mode_prefixes_data_and_reports_the_replicas_flushes_and_flow() {
        let devpts = Rc::new(Devpts::default());
        let (mut m, mut r) = pair(&devpts);
        let mut c = caller();
        // Only the master has packet mode.
        c.mem[..4].copy_from_slice(&1i32.to_le_bytes());
        assert_eq!(r.ioctl(&mut c, libc::TIOCPKT, AT), Err(libc::ENOTTY));
        assert_eq!(m.ioctl(&mut c, libc::TIOCPKT, AT), Ok(0));
        c.mem[..4].fill(0);
        assert_eq!(m.ioctl(&mut c, TIOCGPKT, AT), Ok(0));
        assert_eq!(int(&c), 1);
        assert_eq!(m.ioctl(&mut c, libc::TIOCPKT, 8), Err(libc::EFAULT));
        write(
            &mut r, b"hi
",
        )
        .unwrap();
        assert_eq!(read(&mut m, 100).unwrap(), b"\0hi\r\n");
        assert!(matches!(read(&mut m, 100), Err(IoErr::Block(_))));
        // The master's own flushes say nothing; the replica's do.
        assert_eq!(m.ioctl(&mut c, libc::TCFLSH, 2), Ok(0));
        assert_eq!(m.readiness(libc::POLLIN | libc::POLLPRI).0, 0);
        assert_eq!(r.ioctl(&mut c, libc::TCFLSH, 0), Ok(0));
        assert_eq!(
            m.readiness(libc::POLLIN | libc::POLLPRI).0,
            libc::POLLIN | libc::POLLPRI
        );
        assert_eq!(r.ioctl(&mut c, libc::TCFLSH, 1), Ok(0));
        // The status comes alone, before data.
        write(
            &mut r, b"x
",
        )
        .unwrap();
        assert_eq!(
            read(&mut m, 100).unwrap(),
            [TIOCPKT_FLUSHREAD | TIOCPKT_FLUSHWRITE]
        );
        assert_eq!(read(&mut m, 2).unwrap(), b"\0x");
        // ^S and ^Q typed stop and start the replica's output; clearing IXON is NOSTOP.
        write(&mut m, b"\x13").unwrap();
        assert_eq!(read(&mut m, 100).unwrap(), [TIOCPKT_STOP]);
        write(&mut m, b"\x11").unwrap();
        assert_eq!(read(&mut m, 100).unwrap(), [TIOCPKT_START]);
        assert_eq!(r.ioctl(&mut c, libc::TCGETS, AT), Ok(0));
        c.mem[..4].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(r.ioctl(&mut c, libc::TCSETS, AT), Ok(0));
        assert_eq!(read(&mut m, 100).unwrap(), [TIOCPKT_NOSTOP]);
        // Turning packet mode off and on again drops the status.
        assert_eq!(r.ioctl(&mut c, libc::TCFLSH, 0), Ok(0));
        c.mem[..4].fill(0);
        assert_eq!(m.ioctl(&mut c, libc::TIOCPKT, AT), Ok(0));
        assert_eq!(read(&mut m, 100).unwrap(), b"\r\n");
        c.mem[..4].copy_from_slice(&1i32.to_le_bytes());
        assert_eq!(m.ioctl(&mut c, libc::TIOCPKT, AT), Ok(0));
        assert!(matches!(read(&mut m, 100), Err(IoErr::Block(_))));
    }

    #[test]
    fn the_master_reads_eio_once_the_replica_closed_and_its_output_is_read() {
        let devpts = Rc::new(Devpts::default());
        let (mut m, mut r) = pair(&devpts);
        write(&mut r, b"last").unwrap();
        drop(r);
        assert_eq!(m.readiness(libc::POLLIN).0, libc::POLLIN | libc::POLLHUP);
        assert_eq!(read(&mut m, 10).unwrap(), b"last");
        assert_eq!(read(&mut m, 10), Err(IoErr::Errno(libc::EIO)));
    }

    #[test]
    fn a_pty_comes_back_with_its_queues_settings_and_session() {
        use crate::persist::testing::{at, no_mounts, null_stdio, round_trip_with, table};
        let vfs = no_mounts();
        let (mut m, mut r) = pair(&vfs.devpts);
        let mut c = caller();
        r.ioctl(&mut c, libc::TIOCSCTTY, 0).unwrap();
        write(&mut m, b"done\rpart").unwrap();
        write(&mut r, b"out").unwrap();
        let mf = OpenFile::new(Box::new(m), libc::O_RDWR, "/dev/ptmx");
        let rf = OpenFile::new(Box::new(r), libc::O_RDWR, "/dev/pts/0");
        let vfs2 = no_mounts();
        let (_, back) = round_trip_with(&vfs2, null_stdio(), &[&table(&[&mf, &rf])]);
        drop((mf, rf));
        let (m2, r2) = (at(&back[0], 0), at(&back[0], 1));
        assert!(vfs2.devpts.ctty_of(10).is_some());
        assert_eq!(vfs2.devpts.entries(), vec![(0, 0)]);
        let mut m2 = m2.borrow_mut();
        let mut r2 = r2.borrow_mut();
        assert_eq!(m2.read(100, None).unwrap(), b"done\r\npartout");
        assert_eq!(r2.read(100, None).unwrap(), b"done\n");
        m2.write(b"\n", None).unwrap();
        assert_eq!(r2.read(100, None).unwrap(), b"part\n");
    }

    #[test]
    fn hostile_saved_ptys_are_refused_by_field() {
        let devpts = Rc::new(Devpts::default());
        let (m, _r) = pair(&devpts);
        let vfs = crate::persist::testing::no_mounts();
        let mut cx = SaveCtx::new(&vfs, 0);
        let good = m.pty().borrow().save(&mut cx);
        let field = |f: &dyn Fn(&mut PtyState)| {
            let mut s = good.clone();
            f(&mut s);
            Pty::check("pty", &s).unwrap_err().field
        };
        assert!(Pty::check("pty", &good).is_ok());
        assert_eq!(field(&|s| s.rx = vec![0; INPUT_MAX + 1]), "input");
        assert_eq!(
            field(&|s| s.pending = vec![0; PENDING_MAX + 1]),
            "pending input"
        );
        assert_eq!(field(&|s| s.line = vec![0; INPUT_MAX]), "line");
        assert_eq!(field(&|s| s.tx = vec![0; OUTPUT_MAX + 1]), "output");
        assert_eq!(field(&|s| s.lines = vec![1]), "lines");
        assert_eq!(field(&|s| s.lines = vec![u64::MAX, 2]), "lines");
        assert_eq!(field(&|s| s.session = Some(-4)), "session");
        assert_eq!(field(&|s| s.fg = Some(3)), "foreground group");
        assert_eq!(field(&|s| s.column = u32::MAX), "column");
        assert_eq!(field(&|s| s.packet_status = 1), "packet status");
        assert_eq!(
            field(&|s| {
                s.packet = true;
                s.packet_status = 0x80;
            }),
            "packet status"
        );
        assert_eq!(pty_index(5), None);
        assert_eq!(pty_index(pty_id(MAX_PTYS)), None);
        assert_eq!(pty_index(pty_id(7)), Some(7));
    }
}
