//! Log field values as plain words: `syn_mp_capable=v1`, `cap_eff=0000...`,
//! never Rust's `Some(1)` / `Some("...")` / `None`, which read badly in the
//! journal and make grep patterns depend on Rust's Debug format.
use packet::echo::{MpCapableSummary, ObservedSegment};

/// The MP_CAPABLE of a connection's SYN: `v0`/`v1` when present, `absent`
/// when the SYN carried none, `not_captured` when the capture missed it.
pub fn syn_mp_capable(syn: Option<&ObservedSegment>) -> String {
    mp_capable_word(syn.map(|s| s.mp_capable))
}

/// `seen`: `None` when the segment was not captured, else its MP_CAPABLE.
fn mp_capable_word(seen: Option<Option<MpCapableSummary>>) -> String {
    match seen {
        None => "not_captured".into(),
        Some(None) => "absent".into(),
        Some(Some(m)) => format!("v{}", m.version),
    }
}

/// A value that could not be read becomes `unknown`.
pub fn or_unknown(value: Option<String>) -> String {
    value.unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mp_capable_is_a_word() {
        let v1 = MpCapableSummary {
            version: 1,
            flags: 1,
            len: 4,
        };
        assert_eq!(mp_capable_word(Some(Some(v1))), "v1");
        assert_eq!(mp_capable_word(Some(None)), "absent");
        assert_eq!(mp_capable_word(None), "not_captured");
        assert_eq!(syn_mp_capable(None), "not_captured");
    }

    #[test]
    fn missing_values_are_words() {
        assert_eq!(or_unknown(None), "unknown");
        assert_eq!(
            or_unknown(Some("0000000000000000".into())),
            "0000000000000000"
        );
    }
}
