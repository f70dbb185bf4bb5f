//! The line discipline between a pseudo-terminal's two ends (Linux's N_TTY, termios(3)):
//! input the master writes is edited into lines (canonical mode) or passed through (raw
//! mode), echoed, and turned into signals; output the replica writes is post-processed
//! (OPOST) for the master to read.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Bytes of input the replica may have waiting, as Linux's N_TTY_BUF_SIZE: raw input and
/// a canonical line hold one less (a line keeps room for its terminator).
pub(crate) const INPUT_MAX: usize = 4096;
/// Bytes written to the master that wait for room in the replica's input (Linux's flip
/// buffers' limit): a master writer waits only once they are full.
pub(crate) const PENDING_MAX: usize = 65536;
/// Bytes of output the master may have waiting.
pub(crate) const OUTPUT_MAX: usize = 65536;

/// Set in a canonical line's length when an end of file (not a byte of it) ended it: a
/// read with room past the line's bytes takes the mark too; one without leaves it for the
/// next read, which returns 0 (Linux's __DISABLED_CHAR in the read buffer).
pub(crate) const EOF_MARK: usize = 1 << 63;

/// Number of control characters of the kernel's `struct termios`.
pub(crate) const NCCS: usize = 19;
/// Size of the kernel's `struct termios` (TCGETS) and `struct termios2` (TCGETS2).
pub(crate) const TERMIOS_SIZE: usize = 36;
pub(crate) const TERMIOS2_SIZE: usize = 44;

// Indexes of c_cc (asm-generic/termbits.h).
const VINTR: usize = 0;
const VQUIT: usize = 1;
const VERASE: usize = 2;
const VKILL: usize = 3;
const VEOF: usize = 4;
pub(crate) const VTIME: usize = 5;
pub(crate) const VMIN: usize = 6;
pub(crate) const VSTART: usize = 8;
pub(crate) const VSTOP: usize = 9;
const VSUSP: usize = 10;
const VEOL: usize = 11;
const VWERASE: usize = 14;
const VEOL2: usize = 16;

/// A terminal's settings: the kernel's `struct termios2` (the speeds are the last two
/// fields, which `struct termios` lacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; NCCS],
    pub ispeed: u32,
    pub ospeed: u32,
}

impl Termios {
    /// A new replica's settings, as Linux gives a new pts: tty_std_termios with
    /// `B38400 | CS8 | CREAD`.
    pub(crate) fn replica_default() -> Self {
        Termios {
            iflag: libc::ICRNL | libc::IXON,
            oflag: libc::OPOST | libc::ONLCR,
            cflag: libc::B38400 | libc::CS8 | libc::CREAD,
            lflag: libc::ISIG
                | libc::ICANON
                | libc::ECHO
                | libc::ECHOE
                | libc::ECHOK
                | libc::ECHOCTL
                | libc::ECHOKE
                | libc::IEXTEN,
            line: 0,
            // INIT_C_CC: ^C ^\ DEL ^U ^D, TIME 0, MIN 1, SWTC 0, ^Q ^S ^Z, EOL 0, ^R ^O
            // ^W ^V, EOL2 0.
            cc: [
                3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0xf, 0x17, 0x16, 0, 0,
                0,
            ],
            ispeed: 38400,
            ospeed: 38400,
        }
    }

    /// Its bytes as `struct termios` (`two` false) or `struct termios2`.
    pub(crate) fn to_bytes(self, two: bool) -> Vec<u8> {
        let mut b = Vec::with_capacity(TERMIOS2_SIZE);
        for v in [self.iflag, self.oflag, self.cflag, self.lflag] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.push(self.line);
        b.extend_from_slice(&self.cc);
        if two {
            b.extend_from_slice(&self.ispeed.to_le_bytes());
            b.extend_from_slice(&self.ospeed.to_le_bytes());
        }
        b
    }

    /// Settings from `struct termios` bytes (`b` of [`TERMIOS_SIZE`]; the speeds stay as
    /// `self` has them) or `struct termios2` bytes.
    pub(crate) fn updated_from(self, b: &[u8]) -> Self {
        let u = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let mut t = Termios {
            iflag: u(0),
            oflag: u(4),
            cflag: u(8),
            lflag: u(12),
            line: b[16],
            cc: b[17..17 + NCCS].try_into().expect("NCCS bytes"),
            ispeed: self.ispeed,
            ospeed: self.ospeed,
        };
        if b.len() >= TERMIOS2_SIZE {
            t.ispeed = u(36);
            t.ospeed = u(40);
        }
        t
    }

    fn l(&self, flag: u32) -> bool {
        self.lflag & flag != 0
    }

    fn i(&self, flag: u32) -> bool {
        self.iflag & flag != 0
    }

    fn o(&self, flag: u32) -> bool {
        self.oflag & flag != 0
    }

    fn canonical(&self) -> bool {
        self.l(libc::ICANON)
    }

    /// Whether `c` is control character `idx` (a zero entry is disabled).
    fn is(&self, c: u8, idx: usize) -> bool {
        self.cc[idx] != 0 && self.cc[idx] == c
    }
}

/// The two queues between the ends and the settings that process them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ldisc {
    pub termios: Termios,
    /// Input written to the master, not yet taken in (no room in `rx`).
    pub pending: VecDeque<u8>,
    /// Input the replica may read (complete lines in canonical mode).
    pub rx: VecDeque<u8>,
    /// Canonical mode: the lengths of the complete lines at the front of `rx`, their
    /// terminators included, with [`EOF_MARK`] set for a line an end of file ended (0
    /// with the mark: an end of file alone).
    pub lines: VecDeque<usize>,
    /// Canonical mode: the line being edited.
    pub line: Vec<u8>,
    /// Output (the replica's writes and the echo) the master may read.
    pub tx: VecDeque<u8>,
    /// Output is stopped (IXON's STOP character, TCOOFF).
    pub stopped: bool,
    /// The output column (for ONOCR and erasing).
    pub column: u32,
}

// The status bytes of packet mode (TIOCPKT), one bit per change the master's reader
// learns of before the data (tty_ioctl(4)).
pub(crate) const TIOCPKT_FLUSHREAD: u8 = 1;
pub(crate) const TIOCPKT_FLUSHWRITE: u8 = 2;
pub(crate) const TIOCPKT_STOP: u8 = 4;
pub(crate) const TIOCPKT_START: u8 = 8;
pub(crate) const TIOCPKT_NOSTOP: u8 = 16;
pub(crate) const TIOCPKT_DOSTOP: u8 = 32;
pub(crate) const TIOCPKT_IOCTL: u8 = 64;

/// `status` after output stopped (`stop`) or started: the later change replaces the
/// earlier, as Linux's stop_tty and start_tty set them.
pub(crate) fn flow_status(status: u8, stop: bool) -> u8 {
    if stop {
        (status & !TIOCPKT_START) | TIOCPKT_STOP
    } else {
        (status & !TIOCPKT_STOP) | TIOCPKT_START
    }
}

/// What taking input in did besides queueing it: the signals it asks the terminal's
/// foreground process group to get, and the changes packet mode reports (`TIOCPKT_*`:
/// a signal character's flush, output stopped or started).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Signals {
    pub sigs: Vec<i32>,
    pub status: u8,
}

impl Signals {
    /// Output stopped (`stop`) or started, if it was not already.
    fn flow(&mut self, stopped: &mut bool, stop: bool) {
        if *stopped != stop {
            *stopped = stop;
            self.status = flow_status(self.status, stop);
        }
    }
}

impl Ldisc {
    pub(crate) fn new() -> Self {
        Ldisc {
            termios: Termios::replica_default(),
            pending: VecDeque::new(),
            rx: VecDeque::new(),
            lines: VecDeque::new(),
            line: Vec::new(),
            tx: VecDeque::new(),
            stopped: false,
            column: 0,
        }
    }

    /// New settings: switching canonical mode off makes the line being edited readable;
    /// switching it on makes what is readable one line.
    pub(crate) fn set_termios(&mut self, t: Termios) {
        let was = self.termios.canonical();
        self.termios = t;
        if was && !t.canonical() {
            self.rx.extend(self.line.drain(..));
            self.lines.clear();
        } else if !was && t.canonical() {
            self.lines.clear();
            if !self.rx.is_empty() {
                self.lines.push_back(self.rx.len());
            }
        }
        if !t.i(libc::IXON) {
            self.stopped = false;
        }
    }

    /// Bytes a master write may still add (0: the writer waits).
    pub(crate) fn input_room(&self) -> usize {
        PENDING_MAX.saturating_sub(self.pending.len())
    }

    /// Whether the replica's input takes another byte: raw input holds one less than
    /// [`INPUT_MAX`]; canonical input stops while complete lines fill it (with none, a
    /// long line is cut instead).
    fn takes_input(&self) -> bool {
        let queued = self.rx.len() + self.line.len();
        if self.termios.canonical() {
            self.lines.is_empty() || queued < INPUT_MAX - 1
        } else {
            queued < INPUT_MAX - 1
        }
    }

    /// Whether a replica read finds something (or an end of file) without waiting, with
    /// VMIN's count in raw mode when `min` (poll's view).
    pub(crate) fn readable(&self, min: bool) -> bool {
        if self.termios.canonical() {
            return !self.lines.is_empty();
        }
        let want = match (min, self.termios.cc[VTIME], self.termios.cc[VMIN]) {
            (true, 0, m) if m > 0 => m as usize,
            _ => 1,
        };
        self.rx.len() >= want
    }

    /// A replica read of up to `len` bytes: None while it must wait.
    pub(crate) fn read(&mut self, len: usize) -> Option<Vec<u8>> {
        if self.termios.canonical() {
            let first = *self.lines.front()?;
            let (l, eof) = (first & !EOF_MARK, first & EOF_MARK != 0);
            let n = len.min(l);
            if n == l && (!eof || len > l) {
                self.lines.pop_front();
            } else {
                self.lines[0] -= n;
            }
            return Some(self.rx.drain(..n).collect());
        }
        let (min, time) = (
            self.termios.cc[VMIN] as usize,
            self.termios.cc[VTIME] as usize,
        );
        if self.rx.is_empty() && (min > 0 || time > 0) && len > 0 {
            return None;
        }
        if time == 0 && self.rx.len() < min.min(len) {
            return None;
        }
        Some(self.take(len))
    }

    /// Up to `len` bytes of what is readable now (a raw read whose VTIME ran out).
    pub(crate) fn take(&mut self, len: usize) -> Vec<u8> {
        let n = len.min(self.rx.len());
        self.rx.drain(..n).collect()
    }

    /// Input written to the master: returns the bytes taken (fewer when the pending
    /// queue fills), and takes in what fits, adding the signals it raises to `sigs`.
    pub(crate) fn input(&mut self, data: &[u8], sigs: &mut Signals) -> usize {
        let n = data.len().min(self.input_room());
        self.pending.extend(&data[..n]);
        self.take_in(sigs);
        n
    }

    /// Takes pending input in while the replica's input has room (after a write, a
    /// read, new settings).
    pub(crate) fn take_in(&mut self, sigs: &mut Signals) {
        while self.takes_input() {
            let Some(c) = self.pending.pop_front() else {
                break;
            };
            self.input_byte(c, sigs);
        }
    }

    fn input_byte(&mut self, mut c: u8, sigs: &mut Signals) {
        let t = self.termios;
        if t.i(libc::ISTRIP) {
            c &= 0x7f;
        }
        if c == b'\r' {
            if t.i(libc::IGNCR) {
                return;
            }
            if t.i(libc::ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && t.i(libc::INLCR) {
            c = b'\r';
        }
        if t.i(libc::IXON) {
            if t.is(c, VSTOP) {
                sigs.flow(&mut self.stopped, true);
                return;
            }
            if t.is(c, VSTART) {
                sigs.flow(&mut self.stopped, false);
                return;
            }
        }
        if t.l(libc::ISIG) {
            let sig = [
                (VINTR, libc::SIGINT),
                (VQUIT, libc::SIGQUIT),
                (VSUSP, libc::SIGTSTP),
            ]
            .into_iter()
            .find(|&(i, _)| t.is(c, i));
            if let Some((_, sig)) = sig {
                sigs.sigs.push(sig);
                if !t.l(libc::NOFLSH) {
                    self.rx.clear();
                    self.lines.clear();
                    self.line.clear();
                    self.tx.clear();
                    sigs.status |= TIOCPKT_FLUSHREAD | TIOCPKT_FLUSHWRITE;
                }
                if t.i(libc::IXON) {
                    sigs.flow(&mut self.stopped, false);
                }
                if t.l(libc::ECHO) {
                    self.echo_char(c);
                }
                return;
            }
        }
        if !t.canonical() {
            self.rx.push_back(c);
            if t.l(libc::ECHO) {
                self.echo_char(c);
            }
            return;
        }
        if t.is(c, VERASE) || t.is(c, VKILL) || (t.is(c, VWERASE) && t.l(libc::IEXTEN)) {
            self.erase(c);
            return;
        }
        if t.is(c, VEOF) {
            self.end_line(true);
            return;
        }
        let ends = c == b'\n' || t.is(c, VEOL) || t.is(c, VEOL2);
        // A full line takes only its terminator.
        if !ends && self.line.len() >= INPUT_MAX - 1 {
            return;
        }
        if t.l(libc::ECHO) || (c == b'\n' && t.l(libc::ECHONL)) {
            self.echo_char(c);
        }
        self.line.push(c);
        if ends {
            self.end_line(false);
        }
    }

    /// The line being edited becomes readable (a terminator or, with `eof`, an end of
    /// file ended it).
    fn end_line(&mut self, eof: bool) {
        let len = self.line.len();
        self.rx.extend(self.line.drain(..));
        self.lines.push_back(if eof { len | EOF_MARK } else { len });
    }

    /// ERASE, WERASE and KILL of canonical mode.
    fn erase(&mut self, c: u8) {
        let t = self.termios;
        if self.line.is_empty() {
            return;
        }
        let kill = t.is(c, VKILL);
        if kill && !(t.l(libc::ECHOK) && t.l(libc::ECHOKE) && t.l(libc::ECHOE)) {
            self.line.clear();
            if t.l(libc::ECHO) {
                self.echo_char(c);
                if t.l(libc::ECHOK) {
                    self.echo_char(b'\n');
                }
            }
            return;
        }
        if !kill && !t.l(libc::ECHOE) {
            // Without ECHOE the erase character itself is echoed.
            if self.pop_char().is_some() && t.l(libc::ECHO) {
                self.echo_char(c);
            }
            return;
        }
        let word = t.is(c, VWERASE);
        let mut seen_word = false;
        while let Some(&last) = self.line.last() {
            if word {
                let space = last == b' ' || last == b'\t';
                if space && seen_word {
                    break;
                }
                seen_word |= !space;
            }
            let Some(last) = self.pop_char() else {
                break;
            };
            if t.l(libc::ECHO) {
                let ctl = (last < 0x20 || last == 0x7f) && last != b'\t';
                let cols = if ctl && t.l(libc::ECHOCTL) { 2 } else { 1 };
                for _ in 0..cols {
                    self.echo_raw(b"\x08 \x08");
                }
            }
            if !kill && !word {
                break;
            }
        }
    }

    /// Takes the last character of the line being edited off it: with IUTF8 a UTF-8
    /// character's continuation bytes go with it, and a line of continuation bytes only
    /// is not erased at all (None). Returns the character's first byte.
    fn pop_char(&mut self) -> Option<u8> {
        let utf8 = self.termios.i(libc::IUTF8);
        let cont = |b: u8| utf8 && b & 0xc0 == 0x80;
        let mut i = self.line.len().checked_sub(1)?;
        while i > 0 && cont(self.line[i]) {
            i -= 1;
        }
        if cont(self.line[i]) {
            return None;
        }
        let c = self.line[i];
        self.line.truncate(i);
        Some(c)
    }

    /// Echoes input `c`: a control character as `^X` with ECHOCTL.
    fn echo_char(&mut self, c: u8) {
        if c != b'\n' && c != b'\t' && (c < 0x20 || c == 0x7f) && self.termios.l(libc::ECHOCTL) {
            self.echo_raw(&[b'^', c ^ 0x40]);
        } else {
            self.echo_raw(&[c]);
        }
    }

    /// Echo goes out as output does; what does not fit is dropped, as Linux drops echo.
    fn echo_raw(&mut self, b: &[u8]) {
        self.output(b);
    }

    /// Output the replica writes: returns the bytes taken (fewer when the master's queue
    /// fills).
    pub(crate) fn output(&mut self, data: &[u8]) -> usize {
        let mut n = 0;
        for &c in data {
            let room = OUTPUT_MAX.saturating_sub(self.tx.len());
            if room < 2 {
                break;
            }
            self.output_byte(c);
            n += 1;
        }
        n
    }

    fn output_byte(&mut self, c: u8) {
        let t = self.termios;
        if !t.o(libc::OPOST) {
            self.tx.push_back(c);
            return;
        }
        match c {
            b'\n' if t.o(libc::ONLCR) => {
                self.tx.extend(b"\r\n");
                self.column = 0;
            }
            b'\n' => {
                if t.o(libc::ONLRET) {
                    self.column = 0;
                }
                self.tx.push_back(c);
            }
            b'\r' if t.o(libc::ONOCR) && self.column == 0 => {}
            b'\r' if t.o(libc::OCRNL) => {
                self.tx.push_back(b'\n');
                if t.o(libc::ONLRET) {
                    self.column = 0;
                }
            }
            b'\r' => {
                self.tx.push_back(c);
                self.column = 0;
            }
            0x08 => {
                self.tx.push_back(c);
                self.column = self.column.saturating_sub(1);
            }
            b'\t' => {
                self.tx.push_back(c);
                self.column = (self.column | 7) + 1;
            }
            c => {
                self.tx.push_back(c);
                if !(c < 0x20 || c == 0x7f) {
                    self.column += 1;
                }
            }
        }
    }

    /// TCFLSH: drops queued input (`input`), output, or both.
    pub(crate) fn flush(&mut self, input: bool, output: bool) {
        if input {
            self.pending.clear();
            self.rx.clear();
            self.lines.clear();
            self.line.clear();
        }
        if output {
            self.tx.clear();
        }
    }

    /// FIONREAD of the replica: bytes a read may take now.
    pub(crate) fn readable_bytes(&self) -> usize {
        if self.termios.canonical() {
            self.lines.iter().map(|l| l & !EOF_MARK).sum()
        } else {
            self.rx.len()
        }
    }

    /// The time a raw read waits for input (VTIME, in ns), if it has one.
    pub(crate) fn read_timeout_ns(&self) -> Option<u64> {
        let t = self.termios;
        (!t.canonical() && t.cc[VTIME] > 0).then(|| t.cc[VTIME] as u64 * 100_000_000)
    }

    /// Whether a raw read that has waited VTIME returns now: VMIN 0 always does; VMIN > 0
    /// times out only once a byte has arrived.
    pub(crate) fn times_out(&self) -> bool {
        self.termios.cc[VMIN] == 0 || !self.rx.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(l: &mut Ldisc, s: &[u8]) -> Vec<i32> {
        let mut sigs = Signals::default();
        assert_eq!(l.input(s, &mut sigs), s.len());
        sigs.sigs
    }

    fn echoed(l: &mut Ldisc) -> Vec<u8> {
        l.tx.drain(..).collect()
    }

    #[test]
    fn canonical_mode_edits_a_line_and_echoes_it() {
        let mut l = Ldisc::new();
        typed(&mut l, b"helo\x7flx\x7fo wor\x17world\r");
        assert_eq!(l.read(100).unwrap(), b"hello world\n");
        assert_eq!(
            echoed(&mut l),
            b"helo\x08 \x08lx\x08 \x08o wor\x08 \x08\x08 \x08\x08 \x08world\r\n"
        );
        assert_eq!(l.read(100), None);
        typed(&mut l, b"gone\x15kept\x04\x04");
        assert_eq!(l.read(2).unwrap(), b"ke");
        assert_eq!(l.read(100).unwrap(), b"pt", "the EOF after it goes with it");
        assert_eq!(l.read(100).unwrap(), b"", "an empty line's EOF reads 0");
        assert_eq!(l.read(100), None);
        typed(&mut l, b"abc\x04");
        assert_eq!(l.read(3).unwrap(), b"abc");
        assert_eq!(
            l.read(3).unwrap(),
            b"",
            "no room for the EOF: the next read has it"
        );
        assert_eq!(l.read(3), None);
    }

    #[test]
    fn iutf8_erases_whole_characters_and_never_part_of_one() {
        let mut l = Ldisc::new();
        typed(&mut l, b"o\xc6\xa9\x7f\n");
        assert_eq!(
            l.read(100).unwrap(),
            b"o\xc6\n",
            "without IUTF8 a byte goes"
        );
        let mut l = Ldisc::new();
        let mut t = l.termios;
        t.iflag |= libc::IUTF8;
        l.set_termios(t);
        typed(&mut l, b"o\xc6\xa9\x7f\n\x80\x7f\n");
        assert_eq!(l.read(100).unwrap(), b"o\n");
        assert_eq!(l.read(100).unwrap(), b"\x80\n");
        assert_eq!(echoed(&mut l), b"o\xc6\xa9\x08 \x08\r\n\x80\r\n");
    }

    #[test]
    fn signals_flush_and_echo_as_caret() {
        let mut l = Ldisc::new();
        typed(&mut l, b"abc");
        assert_eq!(typed(&mut l, b"\x03"), vec![libc::SIGINT]);
        assert!(l.line.is_empty());
        assert_eq!(echoed(&mut l), b"^C");
        assert_eq!(
            typed(&mut l, b"\x1c\x1a"),
            vec![libc::SIGQUIT, libc::SIGTSTP]
        );
        let mut t = l.termios;
        t.lflag &= !libc::ISIG;
        l.set_termios(t);
        assert!(typed(&mut l, b"\x03").is_empty());
    }

    #[test]
    fn raw_mode_honours_vmin_and_output_processing() {
        let mut l = Ldisc::new();
        typed(&mut l, b"par");
        let mut t = l.termios;
        t.lflag &= !(libc::ICANON | libc::ECHO);
        t.cc[VMIN] = 5;
        l.set_termios(t);
        assert_eq!(l.readable_bytes(), 3, "the partial line became readable");
        assert_eq!(l.read(10), None, "fewer than VMIN");
        assert_eq!(l.read(2).unwrap(), b"pa", "VMIN is capped by the length");
        t.cc[VMIN] = 0;
        l.set_termios(t);
        assert_eq!(l.read(10).unwrap(), b"r");
        assert_eq!(l.read(10).unwrap(), b"", "VMIN 0 VTIME 0 polls");
        echoed(&mut l);
        assert_eq!(l.output(b"a\nb\r"), 4);
        assert_eq!(echoed(&mut l), b"a\r\nb\r");
        t.oflag = 0;
        l.set_termios(t);
        l.output(b"a\n");
        assert_eq!(echoed(&mut l), b"a\n");
    }

    #[test]
    fn input_stops_at_the_buffer_size() {
        let mut l = Ldisc::new();
        let mut t = l.termios;
        t.lflag = 0;
        l.set_termios(t);
        let mut sigs = Signals::default();
        assert_eq!(l.input(&[b'x'; 5000], &mut sigs), 5000);
        assert_eq!(l.rx.len(), INPUT_MAX - 1, "the rest waits");
        assert_eq!(
            l.input(&[b'y'; PENDING_MAX], &mut sigs),
            PENDING_MAX - 5000 + INPUT_MAX - 1
        );
        assert_eq!(l.input_room(), 0);
        assert_eq!(l.read(10).unwrap().len(), 10);
        l.take_in(&mut sigs);
        assert_eq!(
            l.rx.len(),
            INPUT_MAX - 1,
            "a read makes room for what waits"
        );
        // A canonical line longer than the buffer keeps its start and its end; the next
        // waits for the first to be read.
        let mut l = Ldisc::new();
        for _ in 0..2 {
            assert_eq!(l.input(&[b'y'; 5000], &mut sigs), 5000);
            typed(&mut l, b"\n");
        }
        assert_eq!(l.read(10000).unwrap().len(), INPUT_MAX);
        assert_eq!(l.read(10000), None);
        l.take_in(&mut sigs);
        assert_eq!(l.read(10000).unwrap().len(), INPUT_MAX);
    }

    #[test]
    fn termios_bytes_round_trip() {
        let t = Termios::replica_default();
        assert_eq!(t.to_bytes(false).len(), TERMIOS_SIZE);
        assert_eq!(t.to_bytes(true).len(), TERMIOS2_SIZE);
        assert_eq!(t.updated_from(&t.to_bytes(true)), t);
        let mut b = t.to_bytes(false);
        b[12..16].fill(0);
        assert_eq!(t.updated_from(&b).lflag, 0);
    }
}
