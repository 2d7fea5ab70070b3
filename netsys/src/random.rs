//! The one source of random numbers: the kernel's CSPRNG through
//! `getrandom(2)` (the `getrandom` crate handles EINTR and short reads).
//! A failure is an error, never a weaker fallback: sequence numbers and
//! MPTCP keys that repeat between runs would make answers ambiguous.
use std::io;

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    getrandom::fill(buf).map_err(io::Error::from)
}

/// `N` random bytes.
pub fn array<const N: usize>() -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    fill(&mut b)?;
    Ok(b)
}

pub fn u16() -> io::Result<u16> {
    array().map(u16::from_ne_bytes)
}

pub fn u32() -> io::Result<u32> {
    array().map(u32::from_ne_bytes)
}

pub fn u64() -> io::Result<u64> {
    array().map(u64::from_ne_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_draws_differ() {
        // 2^-128 chance of a false failure.
        assert_ne!(array::<16>().unwrap(), array::<16>().unwrap());
        assert_ne!(
            (u64().unwrap(), u64().unwrap()),
            (u64().unwrap(), u64().unwrap())
        );
    }

    #[test]
    fn fill_writes_every_byte() {
        // A buffer left zero in its tail would show as a run of zeros: 64
        // zero bytes at the end by chance is 2^-512.
        let mut b = [0u8; 4096];
        fill(&mut b).unwrap();
        assert!(b[4096 - 64..].iter().any(|&x| x != 0));
        assert!(b[..64].iter().any(|&x| x != 0));
        u16().unwrap();
        u32().unwrap();
        fill(&mut []).unwrap();
    }
}
