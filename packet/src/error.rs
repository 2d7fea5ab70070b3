//! Structured errors of the option layer: what was wrong, where, how long.
use thiserror::Error;

/// A TCP option whose length cannot be trusted. Everything before `offset`
/// decoded fine and is still returned by [`crate::OptionList::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("TCP option kind {kind} at offset {offset} of the option area: {what}")]
pub struct OptionError {
    /// Kind byte of the offending option.
    pub kind: u8,
    /// Offset of the kind byte from the start of the option area.
    pub offset: usize,
    /// What is wrong with it.
    pub what: OptionErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OptionErrorKind {
    /// The area ends right after the kind byte, so there is no length byte.
    #[error("no length byte (the option area ends after the kind)")]
    MissingLength,
    /// The length byte is below 2, which would make the walk loop or go back.
    #[error("length {len} is below the minimum of 2")]
    LengthTooSmall { len: u8 },
    /// The length runs past the end of the option area.
    #[error("length {len} runs past the end of the option area ({available} bytes left)")]
    LengthPastEnd { len: u8, available: usize },
}
