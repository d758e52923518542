//! CTAPHID framing (CTAP 2.1 §11.2): 64-byte reports, initialisation and
//! continuation packets, fragmentation and reassembly. Pure: no I/O, no
//! knowledge of CTAP2 semantics. Used by the host ([`channel`]) and by the
//! virtual key (device side).

pub mod channel;

/// Size of one HID report.
pub const REPORT_LEN: usize = 64;
/// Payload bytes in an initialisation packet.
pub const INIT_DATA_LEN: usize = REPORT_LEN - 7;
/// Payload bytes in a continuation packet.
pub const CONT_DATA_LEN: usize = REPORT_LEN - 5;
/// Largest message: one initialisation and 128 continuation packets.
pub const MAX_MESSAGE_LEN: usize = INIT_DATA_LEN + 128 * CONT_DATA_LEN;
/// The broadcast channel, only for INIT.
pub const BROADCAST_CID: u32 = 0xFFFF_FFFF;
/// CTAPHID protocol version reported by INIT.
pub const PROTOCOL_VERSION: u8 = 2;

/// One 64-byte HID report.
pub type Report = [u8; REPORT_LEN];

/// CTAPHID commands (the byte without the high bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HidCommand {
    /// CTAPHID_PING (0x01): echoes its payload.
    Ping,
    /// CTAPHID_MSG (0x03): a CTAP1/U2F message.
    Msg,
    /// CTAPHID_LOCK (0x04): exclusive use of the key for some seconds.
    Lock,
    /// CTAPHID_INIT (0x06): allocates a channel.
    Init,
    /// CTAPHID_WINK (0x08): the key shows where it is.
    Wink,
    /// CTAPHID_CBOR (0x10): a CTAP2 request or response.
    Cbor,
    /// CTAPHID_CANCEL (0x11): stop the request in progress.
    Cancel,
    /// CTAPHID_KEEPALIVE (0x3B): the key is still working or waits for a touch.
    Keepalive,
    /// CTAPHID_ERROR (0x3F): a transport-level error.
    Error,
    /// A command byte this library does not name.
    Unknown(u8),
}

impl HidCommand {
    /// The command of a command byte (the init-packet bit ignored).
    pub fn from_byte(b: u8) -> Self {
        match b & 0x7F {
            0x01 => Self::Ping,
            0x03 => Self::Msg,
            0x04 => Self::Lock,
            0x06 => Self::Init,
            0x08 => Self::Wink,
            0x10 => Self::Cbor,
            0x11 => Self::Cancel,
            0x3B => Self::Keepalive,
            0x3F => Self::Error,
            other => Self::Unknown(other),
        }
    }

    /// The command byte without the initialisation-packet high bit.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Ping => 0x01,
            Self::Msg => 0x03,
            Self::Lock => 0x04,
            Self::Init => 0x06,
            Self::Wink => 0x08,
            Self::Cbor => 0x10,
            Self::Cancel => 0x11,
            Self::Keepalive => 0x3B,
            Self::Error => 0x3F,
            Self::Unknown(b) => b & 0x7F,
        }
    }
}

wire_enum! {
    /// CTAPHID ERROR payloads (§11.2.9.1.6).
    #[derive(thiserror::Error)]
    pub enum HidError {
        #[error("the key does not know this CTAPHID command (INVALID_CMD)")]
        InvalidCmd = 0x01,
        #[error("invalid CTAPHID parameter (INVALID_PAR)")]
        InvalidPar = 0x02,
        #[error("invalid CTAPHID message length (INVALID_LEN)")]
        InvalidLen = 0x03,
        #[error("CTAPHID packets out of sequence (INVALID_SEQ)")]
        InvalidSeq = 0x04,
        #[error("the key timed out waiting for the rest of a message (MSG_TIMEOUT)")]
        MsgTimeout = 0x05,
        #[error("the key is busy with another client (CHANNEL_BUSY)")]
        ChannelBusy = 0x06,
        #[error("the key is locked by another client (LOCK_REQUIRED)")]
        LockRequired = 0x0A,
        #[error("invalid CTAPHID channel (INVALID_CHANNEL)")]
        InvalidChannel = 0x0B,
        #[error("unspecified CTAPHID error (OTHER)")]
        Other = 0x7F,
        _ => #[error("unknown CTAPHID error 0x{0:02X}")] Unknown(u8),
    }
}

wire_enum! {
    /// KEEPALIVE status byte.
    pub enum KeepaliveStatus {
        /// The key is working on the request.
        Processing = 0x01,
        /// The key waits for a touch.
        UpNeeded = 0x02,
        _ => Unknown(u8),
    }
}

/// Capability flags in the INIT response.
pub mod capability {
    /// The key can wink.
    pub const WINK: u8 = 0x01;
    /// The key speaks CTAP2 (CBOR).
    pub const CBOR: u8 = 0x04;
    /// The key does not implement CTAP1/U2F MSG.
    pub const NMSG: u8 = 0x08;
}

/// A decoded report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// First packet of a message: command and total payload length.
    Init {
        /// The channel id.
        cid: u32,
        /// The command.
        cmd: HidCommand,
        /// The whole message's payload length.
        bcnt: u16,
        /// The first payload bytes (zero-padded).
        data: [u8; INIT_DATA_LEN],
    },
    /// A following packet with its sequence number.
    Cont {
        /// The channel id.
        cid: u32,
        /// The sequence number (0–127).
        seq: u8,
        /// The next payload bytes (zero-padded).
        data: [u8; CONT_DATA_LEN],
    },
}

impl Packet {
    /// Splits a report into its fields; any 64 bytes form a packet.
    pub fn parse(report: &Report) -> Packet {
        let cid = u32::from_be_bytes([report[0], report[1], report[2], report[3]]);
        if report[4] & 0x80 != 0 {
            let mut data = [0u8; INIT_DATA_LEN];
            data.copy_from_slice(&report[7..]);
            Packet::Init {
                cid,
                cmd: HidCommand::from_byte(report[4]),
                bcnt: u16::from_be_bytes([report[5], report[6]]),
                data,
            }
        } else {
            let mut data = [0u8; CONT_DATA_LEN];
            data.copy_from_slice(&report[5..]);
            Packet::Cont {
                cid,
                seq: report[4],
                data,
            }
        }
    }

    /// The packet's channel id.
    pub fn cid(&self) -> u32 {
        match self {
            Packet::Init { cid, .. } | Packet::Cont { cid, .. } => *cid,
        }
    }

    /// The packet as a 64-byte report.
    pub fn to_report(&self) -> Report {
        let mut r = [0u8; REPORT_LEN];
        match self {
            Packet::Init {
                cid,
                cmd,
                bcnt,
                data,
            } => {
                r[..4].copy_from_slice(&cid.to_be_bytes());
                r[4] = 0x80 | cmd.to_byte();
                r[5..7].copy_from_slice(&bcnt.to_be_bytes());
                r[7..].copy_from_slice(data);
            }
            Packet::Cont { cid, seq, data } => {
                r[..4].copy_from_slice(&cid.to_be_bytes());
                r[4] = *seq & 0x7F;
                r[5..].copy_from_slice(data);
            }
        }
        r
    }
}

/// A whole CTAPHID message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel id.
    pub cid: u32,
    /// The command.
    pub cmd: HidCommand,
    /// The payload (at most 7609 bytes).
    pub payload: Vec<u8>,
}

/// The message is longer than CTAPHID can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("message of {0} bytes exceeds the CTAPHID maximum of 7609 bytes")]
pub struct MessageTooLong(pub usize);

impl Message {
    /// A message on `cid`.
    pub fn new(cid: u32, cmd: HidCommand, payload: Vec<u8>) -> Self {
        Self { cid, cmd, payload }
    }

    /// Splits the message into reports (§11.2.4).
    pub fn to_reports(&self) -> Result<Vec<Report>, MessageTooLong> {
        let len = self.payload.len();
        if len > MAX_MESSAGE_LEN {
            return Err(MessageTooLong(len));
        }
        let mut reports =
            Vec::with_capacity(1 + len.saturating_sub(INIT_DATA_LEN).div_ceil(CONT_DATA_LEN));
        let first = len.min(INIT_DATA_LEN);
        let mut data = [0u8; INIT_DATA_LEN];
        data[..first].copy_from_slice(&self.payload[..first]);
        reports.push(
            Packet::Init {
                cid: self.cid,
                cmd: self.cmd,
                bcnt: len as u16,
                data,
            }
            .to_report(),
        );
        for (seq, chunk) in self.payload[first..].chunks(CONT_DATA_LEN).enumerate() {
            let mut data = [0u8; CONT_DATA_LEN];
            data[..chunk.len()].copy_from_slice(chunk);
            reports.push(
                Packet::Cont {
                    cid: self.cid,
                    seq: seq as u8,
                    data,
                }
                .to_report(),
            );
        }
        Ok(reports)
    }
}

/// Reassembles one message from its initialisation packet and the
/// continuation packets that follow on the same channel.
#[derive(Debug, Clone)]
pub struct Reassembler {
    cid: u32,
    cmd: HidCommand,
    expected: usize,
    payload: Vec<u8>,
    next_seq: u8,
    /// Set once the message was handed out: nothing more belongs to it.
    complete: bool,
}

/// Result of feeding a packet to a [`Reassembler`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembly {
    /// More continuation packets are needed.
    Incomplete,
    /// The message is whole.
    Complete(Message),
}

impl Reassembler {
    /// Starts a message from an initialisation packet. A length above
    /// [`MAX_MESSAGE_LEN`] is `INVALID_LEN`.
    pub fn start(
        cid: u32,
        cmd: HidCommand,
        bcnt: u16,
        data: &[u8; INIT_DATA_LEN],
    ) -> Result<(Self, Assembly), HidError> {
        let expected = bcnt as usize;
        if expected > MAX_MESSAGE_LEN {
            return Err(HidError::InvalidLen);
        }
        let first = expected.min(INIT_DATA_LEN);
        let mut payload = Vec::with_capacity(expected);
        payload.extend_from_slice(&data[..first]);
        let mut r = Self {
            cid,
            cmd,
            expected,
            payload,
            next_seq: 0,
            complete: false,
        };
        let state = r.state();
        Ok((r, state))
    }

    /// Adds a continuation packet; the channel must match (the caller routes
    /// packets by channel) and the sequence number must be the next one.
    pub fn push(&mut self, seq: u8, data: &[u8; CONT_DATA_LEN]) -> Result<Assembly, HidError> {
        if seq != self.next_seq || self.complete {
            return Err(HidError::InvalidSeq);
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        let take = (self.expected - self.payload.len()).min(CONT_DATA_LEN);
        self.payload.extend_from_slice(&data[..take]);
        Ok(self.state())
    }

    /// The channel id of the message being assembled.
    pub fn cid(&self) -> u32 {
        self.cid
    }

    /// The command of the message being assembled.
    pub fn cmd(&self) -> HidCommand {
        self.cmd
    }

    fn state(&mut self) -> Assembly {
        if self.payload.len() == self.expected {
            self.complete = true;
            Assembly::Complete(Message {
                cid: self.cid,
                cmd: self.cmd,
                payload: std::mem::take(&mut self.payload),
            })
        } else {
            Assembly::Incomplete
        }
    }
}

/// The INIT response payload (§11.2.9.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitResponse {
    /// The nonce the host sent, echoed.
    pub nonce: [u8; 8],
    /// The channel id allocated to the host.
    pub cid: u32,
    /// CTAPHID protocol version (2).
    pub protocol_version: u8,
    /// The device's version (major, minor, build).
    pub version: (u8, u8, u8),
    /// Capability flags ([`capability`]).
    pub capabilities: u8,
}

impl InitResponse {
    /// The payload as sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.cid.to_be_bytes());
        out.push(self.protocol_version);
        out.extend_from_slice(&[self.version.0, self.version.1, self.version.2]);
        out.push(self.capabilities);
        out
    }

    /// Reads an INIT response payload; `None` when shorter than 17 bytes.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 17 {
            return None;
        }
        Some(Self {
            nonce: bytes[..8].try_into().ok()?,
            cid: u32::from_be_bytes(bytes[8..12].try_into().ok()?),
            protocol_version: bytes[12],
            version: (bytes[13], bytes[14], bytes[15]),
            capabilities: bytes[16],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reassemble(reports: &[Report]) -> Result<Message, HidError> {
        let Packet::Init {
            cid,
            cmd,
            bcnt,
            data,
        } = Packet::parse(&reports[0])
        else {
            panic!("first is init")
        };
        let (mut r, mut state) = Reassembler::start(cid, cmd, bcnt, &data)?;
        for report in &reports[1..] {
            let Packet::Cont { seq, data, .. } = Packet::parse(report) else {
                panic!("cont")
            };
            state = r.push(seq, &data)?;
        }
        match state {
            Assembly::Complete(m) => Ok(m),
            Assembly::Incomplete => panic!("incomplete"),
        }
    }

    #[test]
    fn fragment_and_reassemble_every_boundary() {
        for len in [0, 1, 56, 57, 58, 116, 117, 1000, MAX_MESSAGE_LEN] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let msg = Message::new(0x1234_5678, HidCommand::Cbor, payload);
            let reports = msg.to_reports().unwrap();
            assert_eq!(reports.len(), 1 + len.saturating_sub(57).div_ceil(59));
            assert_eq!(reassemble(&reports).unwrap(), msg);
        }
        let too_long = Message::new(1, HidCommand::Cbor, vec![0; MAX_MESSAGE_LEN + 1]);
        assert_eq!(
            too_long.to_reports(),
            Err(MessageTooLong(MAX_MESSAGE_LEN + 1))
        );
    }

    #[test]
    fn wrong_sequence_and_length_are_errors() {
        let msg = Message::new(7, HidCommand::Cbor, vec![1; 200]);
        let mut reports = msg.to_reports().unwrap();
        reports.swap(1, 2);
        assert_eq!(reassemble(&reports), Err(HidError::InvalidSeq));
        let data = [0u8; INIT_DATA_LEN];
        assert_eq!(
            Reassembler::start(7, HidCommand::Cbor, (MAX_MESSAGE_LEN + 1) as u16, &data).err(),
            Some(HidError::InvalidLen)
        );
    }

    #[test]
    fn packet_layout() {
        let msg = Message::new(0xAABBCCDD, HidCommand::Init, vec![9; 8]);
        let r = msg.to_reports().unwrap()[0];
        assert_eq!(&r[..7], &[0xAA, 0xBB, 0xCC, 0xDD, 0x86, 0x00, 0x08]);
        assert_eq!(&r[7..15], &[9; 8]);
        assert!(r[15..].iter().all(|b| *b == 0));
    }

    /// CTAP 2.1 §11.2.9: command codes; the initialisation packet sets
    /// the high bit, which from_byte ignores.
    #[test]
    fn command_codes() {
        for (cmd, byte) in [
            (HidCommand::Ping, 0x01),
            (HidCommand::Msg, 0x03),
            (HidCommand::Lock, 0x04),
            (HidCommand::Init, 0x06),
            (HidCommand::Wink, 0x08),
            (HidCommand::Cbor, 0x10),
            (HidCommand::Cancel, 0x11),
            (HidCommand::Keepalive, 0x3B),
            (HidCommand::Error, 0x3F),
        ] {
            assert_eq!(cmd.to_byte(), byte, "{cmd:?}");
            assert_eq!(HidCommand::from_byte(byte), cmd);
            assert_eq!(HidCommand::from_byte(byte | 0x80), cmd);
        }
        assert_eq!(HidCommand::from_byte(0x40), HidCommand::Unknown(0x40));
        assert_eq!(HidCommand::from_byte(0xC0), HidCommand::Unknown(0x40));
        assert_eq!(HidCommand::Unknown(0xC1).to_byte(), 0x41);
    }

    /// §11.2.9.1.6 error codes, §11.2.9.1.7 keep-alive statuses,
    /// §11.2.9.1.3 capability flags.
    #[test]
    fn error_keepalive_and_capability_codes() {
        for (e, byte) in [
            (HidError::InvalidCmd, 0x01),
            (HidError::InvalidPar, 0x02),
            (HidError::InvalidLen, 0x03),
            (HidError::InvalidSeq, 0x04),
            (HidError::MsgTimeout, 0x05),
            (HidError::ChannelBusy, 0x06),
            (HidError::LockRequired, 0x0A),
            (HidError::InvalidChannel, 0x0B),
            (HidError::Other, 0x7F),
        ] {
            assert_eq!(e.to_byte(), byte, "{e:?}");
            assert_eq!(HidError::from_byte(byte), e);
        }
        assert_eq!(HidError::from_byte(0x09), HidError::Unknown(0x09));
        assert_eq!(HidError::Unknown(0x09).to_byte(), 0x09);
        assert_eq!(KeepaliveStatus::from_byte(1), KeepaliveStatus::Processing);
        assert_eq!(KeepaliveStatus::from_byte(2), KeepaliveStatus::UpNeeded);
        assert_eq!(KeepaliveStatus::from_byte(0), KeepaliveStatus::Unknown(0));
        assert_eq!(KeepaliveStatus::Processing.to_byte(), 1);
        assert_eq!(KeepaliveStatus::UpNeeded.to_byte(), 2);
        assert_eq!(KeepaliveStatus::Unknown(9).to_byte(), 9);
        assert_eq!(
            (capability::WINK, capability::CBOR, capability::NMSG),
            (0x01, 0x04, 0x08)
        );
        // §11.2.4: 57 bytes in the first packet, 59 in each of up to 128 more.
        assert_eq!(
            (INIT_DATA_LEN, CONT_DATA_LEN, MAX_MESSAGE_LEN),
            (57, 59, 7609)
        );
    }

    #[test]
    fn continuation_packets() {
        let msg = Message::new(0x0102_0304, HidCommand::Cbor, (0..=200u8).collect());
        let reports = msg.to_reports().unwrap();
        assert_eq!(reports.len(), 4);
        for (i, r) in reports[1..].iter().enumerate() {
            assert_eq!(&r[..5], &[1, 2, 3, 4, i as u8]);
            match Packet::parse(r) {
                Packet::Cont { cid, seq, data } => {
                    assert_eq!((cid, seq as usize), (0x0102_0304, i));
                    assert_eq!(data[0], (57 + 59 * i) as u8);
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(Packet::parse(r).cid(), 0x0102_0304);
            assert_eq!(Packet::parse(r).to_report(), *r);
        }
        assert_eq!(Packet::parse(&reports[0]).cid(), 0x0102_0304);
        assert_eq!(Packet::parse(&reports[0]).to_report(), reports[0]);
        // The last packet is zero-padded.
        assert!(reports[3][5 + (201 - 57 - 118)..].iter().all(|b| *b == 0));
        // A sequence byte with the high bit would read as an init packet.
        let cont = Packet::Cont {
            cid: 1,
            seq: 0x85,
            data: [0; CONT_DATA_LEN],
        };
        assert_eq!(cont.to_report()[4], 0x05);
    }

    #[test]
    fn reassembly_ends_at_the_announced_length() {
        let msg = Message::new(9, HidCommand::Msg, vec![3; 100]);
        let reports = msg.to_reports().unwrap();
        let Packet::Init {
            cid,
            cmd,
            bcnt,
            data,
        } = Packet::parse(&reports[0])
        else {
            panic!("init")
        };
        let (mut r, state) = Reassembler::start(cid, cmd, bcnt, &data).unwrap();
        assert_eq!(state, Assembly::Incomplete);
        assert_eq!((r.cid(), r.cmd()), (9, HidCommand::Msg));
        let Packet::Cont { data: cont, .. } = Packet::parse(&reports[1]) else {
            panic!("cont")
        };
        // Out of order first.
        assert_eq!(r.push(1, &cont), Err(HidError::InvalidSeq));
        let Assembly::Complete(m) = r.push(0, &cont).unwrap() else {
            panic!("complete")
        };
        assert_eq!(m.payload, vec![3; 100]);
        // Nothing more is accepted once complete, even the next number.
        assert_eq!(r.push(1, &cont), Err(HidError::InvalidSeq));
        // A message that fits the first packet is complete at once; so is
        // one of exactly 57 bytes and one announced as 7609.
        for len in [0u16, 5, 57] {
            let (_, state) =
                Reassembler::start(1, HidCommand::Ping, len, &[4; INIT_DATA_LEN]).unwrap();
            assert_eq!(
                state,
                Assembly::Complete(Message::new(1, HidCommand::Ping, vec![4; len as usize]))
            );
        }
        assert!(Reassembler::start(1, HidCommand::Ping, MAX_MESSAGE_LEN as u16, &[0; 57]).is_ok());
    }

    /// §11.2.9.1.3: nonce(8) CID(4) protocol(1) version(3) capabilities(1).
    #[test]
    fn init_response_layout() {
        let r = InitResponse {
            nonce: [1, 2, 3, 4, 5, 6, 7, 8],
            cid: 0xA1B2_C3D4,
            protocol_version: 2,
            version: (5, 4, 3),
            capabilities: 0x05,
        };
        let bytes = r.to_bytes();
        assert_eq!(
            bytes,
            [1, 2, 3, 4, 5, 6, 7, 8, 0xA1, 0xB2, 0xC3, 0xD4, 2, 5, 4, 3, 0x05]
        );
        assert_eq!(InitResponse::parse(&bytes), Some(r.clone()));
        // Trailing bytes (a zero-padded report) are ignored; short is None.
        let mut padded = bytes.clone();
        padded.extend([0; 40]);
        assert_eq!(InitResponse::parse(&padded), Some(r));
        assert_eq!(InitResponse::parse(&bytes[..16]), None);
    }
}
