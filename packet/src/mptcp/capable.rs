//! MP_CAPABLE (subtype 0): the handshake option carrying the keys.
use super::{be16, be64, put_header, Expected, MptcpError, SUBTYPE_MP_CAPABLE};
use std::fmt;

/// MP_CAPABLE flag bits (the flags byte).
pub mod flag {
    /// A: DSS checksums required.
    pub const A: u8 = 0x80;
    /// B: extensibility (must be 0 in v0/v1).
    pub const B: u8 = 0x40;
    /// C: do not open subflows to the source address (v1).
    pub const C: u8 = 0x20;
    /// H: HMAC-SHA1 (v0) / HMAC-SHA256 (v1).
    pub const H: u8 = 0x01;
}

/// Which fields follow the flags byte, named by the option length they
/// make: each form has the fields of the one before and one more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
enum Form {
    /// v1 SYN: no key.
    #[default]
    Bare = 4,
    /// v0 SYN, SYN/ACK: the sender's key.
    SenderKey = 12,
    /// Third ACK: both keys.
    BothKeys = 20,
    /// v1 ACK with data: and the data-level length.
    DataLen = 22,
    /// The same with a DSS checksum.
    Checksum = 24,
}

impl Form {
    fn of_len(len: usize) -> Option<Self> {
        Some(match len {
            4 => Form::Bare,
            12 => Form::SenderKey,
            20 => Form::BothKeys,
            22 => Form::DataLen,
            24 => Form::Checksum,
            _ => return None,
        })
    }
}

/// MP_CAPABLE (subtype 0). Which of the optional fields are present follows
/// from the option length: 4 (v1 SYN), 12 (v0 SYN, SYN/ACK), 20 (third ACK),
/// 22 (v1 ACK with data-level length), 24 (the same with a DSS checksum).
///
/// Compact (23 bytes, no padding): the fields after the flags byte are kept
/// as their wire bytes and read by the accessors, so that a decoded
/// [`crate::TcpOption`] fits in 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MpCapable {
    /// Low nibble of the subtype byte: 0 (RFC 6824) or 1 (RFC 8684).
    pub version: u8,
    /// The flags byte as on the wire: A (0x80, checksum required), B (0x40,
    /// extensibility), C (0x20, no more subflows to this address), D..G,
    /// H (0x01, HMAC-SHA1/SHA256).
    pub flags: u8,
    form: Form,
    /// Sender key, receiver key, data-level length, checksum, big-endian,
    /// as on the wire; the bytes past the form's fields are zero (so that
    /// equality is equality of the fields).
    fields: [u8; 20],
}

/// The form of an MP_CAPABLE of `option.len()` bytes and version nibble.
#[inline]
fn form_of(option: &[u8]) -> Result<Form, MptcpError> {
    let len = option.len();
    let version = option[2] & 0x0f;
    let form =
        Form::of_len(len).filter(|f| version != 0 || matches!(f, Form::SenderKey | Form::BothKeys));
    form.ok_or_else(|| {
        super::bad_length(
            SUBTYPE_MP_CAPABLE,
            len,
            if version == 0 {
                Expected::CapableV0
            } else {
                Expected::CapableV1
            },
        )
    })
}

/// Whether `option` (kind, length and subtype bytes included) has a
/// length MP_CAPABLE can have.
#[inline]
pub(super) fn check(option: &[u8]) -> Result<(), MptcpError> {
    form_of(option).map(drop)
}

pub(super) fn parse(option: &[u8]) -> Result<MpCapable, MptcpError> {
    check(option)?;
    Ok(read(option))
}

/// Decodes an option [`check`] accepted (anything else reads as a bare
/// v1 SYN form). Built in place by the option walk: no `Result` around it.
#[inline]
pub(super) fn read(option: &[u8]) -> MpCapable {
    let form = form_of(option).unwrap_or_default();
    // Fixed-size copies per form (a copy of variable length is a memcpy
    // call, and this is the decode loop).
    let mut fields = [0u8; 20];
    let mut copy = |n: usize| {
        if let (Some(to), Some(from)) = (fields.get_mut(..n), option.get(4..4 + n)) {
            to.copy_from_slice(from);
        }
    };
    match form {
        Form::Bare => {}
        Form::SenderKey => copy(8),
        Form::BothKeys => copy(16),
        Form::DataLen => copy(18),
        Form::Checksum => copy(20),
    }
    MpCapable {
        version: option[2] & 0x0f,
        flags: option[3],
        form,
        fields,
    }
}

pub(super) fn buffer_len(c: &MpCapable) -> usize {
    c.form as usize
}

/// Writes the option; `out` is exactly `buffer_len` long.
pub(super) fn emit(c: &MpCapable, out: &mut [u8]) {
    put_header(out, out.len());
    out[2] = (SUBTYPE_MP_CAPABLE << 4) | (c.version & 0x0f);
    out[3] = c.flags;
    let n = out.len() - 4;
    out[4..].copy_from_slice(&c.fields[..n]);
}

impl MpCapable {
    /// From the fields as options, in wire order: each optional field needs
    /// the ones before it (a receiver key needs a sender key, a checksum a
    /// data-level length). `None` when one is skipped.
    pub fn from_fields(
        version: u8,
        flags: u8,
        sender_key: Option<u64>,
        receiver_key: Option<u64>,
        data_len: Option<u16>,
        checksum: Option<u16>,
    ) -> Option<Self> {
        let form = match (sender_key, receiver_key, data_len, checksum) {
            (None, None, None, None) => Form::Bare,
            (Some(_), None, None, None) => Form::SenderKey,
            (Some(_), Some(_), None, None) => Form::BothKeys,
            (Some(_), Some(_), Some(_), None) => Form::DataLen,
            (Some(_), Some(_), Some(_), Some(_)) => Form::Checksum,
            _ => return None,
        };
        let mut fields = [0u8; 20];
        fields[0..8].copy_from_slice(&sender_key.unwrap_or(0).to_be_bytes());
        fields[8..16].copy_from_slice(&receiver_key.unwrap_or(0).to_be_bytes());
        fields[16..18].copy_from_slice(&data_len.unwrap_or(0).to_be_bytes());
        fields[18..20].copy_from_slice(&checksum.unwrap_or(0).to_be_bytes());
        Some(MpCapable {
            version,
            flags,
            form,
            fields,
        })
    }

    /// The sender's key (SYN in v0, SYN/ACK, third ACK).
    pub fn sender_key(&self) -> Option<u64> {
        (self.form as u8 >= Form::SenderKey as u8).then(|| be64(&self.fields[0..8]))
    }
    /// The receiver's key (third ACK: the key of the SYN/ACK's sender).
    pub fn receiver_key(&self) -> Option<u64> {
        (self.form as u8 >= Form::BothKeys as u8).then(|| be64(&self.fields[8..16]))
    }
    /// Data-level length of the first data segment (v1, 22/24 bytes).
    pub fn data_len(&self) -> Option<u16> {
        (self.form as u8 >= Form::DataLen as u8).then(|| be16(&self.fields[16..18]))
    }
    /// DSS checksum of that data (v1, 24 bytes).
    pub fn checksum(&self) -> Option<u16> {
        (self.form == Form::Checksum).then(|| be16(&self.fields[18..20]))
    }

    /// v1 SYN (4 bytes): no key.
    pub fn v1_syn(flags: u8) -> Self {
        MpCapable {
            version: 1,
            flags,
            ..Default::default()
        }
    }
    /// v1 SYN/ACK (12 bytes): the listener's key.
    pub fn v1_syn_ack(key: u64, flags: u8) -> Self {
        Self::keyed(1, flags, Some(key), None)
    }
    /// v1 third ACK (20 bytes): both keys, the ACK sender's first.
    pub fn v1_ack(sender_key: u64, receiver_key: u64, flags: u8) -> Self {
        Self::keyed(1, flags, Some(sender_key), Some(receiver_key))
    }
    /// v1 ACK with data (22 bytes, or 24 with a DSS checksum).
    pub fn v1_ack_data(
        sender_key: u64,
        receiver_key: u64,
        flags: u8,
        data_len: u16,
        checksum: Option<u16>,
    ) -> Self {
        Self::from_fields(
            1,
            flags,
            Some(sender_key),
            Some(receiver_key),
            Some(data_len),
            checksum,
        )
        .unwrap_or_default()
    }
    /// v0 SYN (12 bytes): the sender's key.
    pub fn v0_syn(key: u64, flags: u8) -> Self {
        Self::keyed(0, flags, Some(key), None)
    }
    /// v0 SYN/ACK (12 bytes), same layout as the v0 SYN.
    pub fn v0_syn_ack(key: u64, flags: u8) -> Self {
        Self::v0_syn(key, flags)
    }
    /// v0 third ACK (20 bytes).
    pub fn v0_ack(sender_key: u64, receiver_key: u64, flags: u8) -> Self {
        Self::keyed(0, flags, Some(sender_key), Some(receiver_key))
    }
    fn keyed(version: u8, flags: u8, sender: Option<u64>, receiver: Option<u64>) -> Self {
        // Without data fields, any receiver key comes with a sender key here.
        Self::from_fields(version, flags, sender, receiver, None, None).unwrap_or_default()
    }
    /// Whether the A bit (DSS checksums required) is set.
    pub fn checksum_required(&self) -> bool {
        self.flags & flag::A != 0
    }
    /// Whether the version is one this codec knows (0 or 1).
    pub fn known_version(&self) -> bool {
        self.version <= 1
    }
    /// Option length on the wire.
    pub fn wire_len(&self) -> usize {
        buffer_len(self)
    }
}

/// As the fields read: the present ones are `Some`.
impl fmt::Debug for MpCapable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpCapable")
            .field("version", &self.version)
            .field("flags", &self.flags)
            .field("sender_key", &self.sender_key())
            .field("receiver_key", &self.receiver_key())
            .field("data_len", &self.data_len())
            .field("checksum", &self.checksum())
            .finish()
    }
}
