//! The lab's Ctrl-C handling, in a test binary of its own: the signal it
//! sends itself would cut short any lab run in the same process.
#![forbid(unsafe_code)]
use lab::interrupt;
use netsys::process::{signal, Signal};
use std::time::{Duration, Instant};

#[test]
fn sigterm_sets_the_flag_instead_of_ending_the_process() {
    interrupt::install().unwrap();
    // Idempotent.
    interrupt::install().unwrap();
    assert!(!interrupt::interrupted());
    assert!(interrupt::check().is_ok());
    signal(std::process::id(), Signal::SIGTERM).unwrap();
    let start = Instant::now();
    while !interrupt::interrupted() {
        assert!(start.elapsed() < Duration::from_secs(5), "flag never set");
        std::thread::sleep(Duration::from_millis(10));
    }
    let e = interrupt::check().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::Interrupted);
}
