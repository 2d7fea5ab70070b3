//! `/proc/net/netstat`: pairs of lines, a header naming the counters and a
//! line of values, both starting with the table name (`TcpExt:`, `MPTcpExt:`).
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NetstatError {
    #[error("line {line}: table header without a value line")]
    MissingValues { line: usize },
    #[error("line {line}: values for table {found:?} follow the header of {expected:?}")]
    TableMismatch {
        line: usize,
        expected: String,
        found: String,
    },
    #[error("line {line}: {names} names but {values} values")]
    CountMismatch {
        line: usize,
        names: usize,
        values: usize,
    },
    #[error("line {line}: value {value:?} is not a number")]
    BadValue { line: usize, value: String },
    #[error("line {line}: no table name")]
    NoTable { line: usize },
}

/// Counters per table, e.g. `tables["MPTcpExt"]["MPCapableSYNRX"]`.
pub type Tables = BTreeMap<String, BTreeMap<String, u64>>;

/// Parses the whole file.
pub fn parse(text: &str) -> Result<Tables, NetstatError> {
    let mut tables = Tables::new();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    while let Some((n, header)) = lines.next() {
        let line = n + 1;
        let (table, names) = split_table(header).ok_or(NetstatError::NoTable { line })?;
        let (vn, values_line) = lines.next().ok_or(NetstatError::MissingValues { line })?;
        let vline = vn + 1;
        let (vtable, values) =
            split_table(values_line).ok_or(NetstatError::NoTable { line: vline })?;
        if vtable != table {
            return Err(NetstatError::TableMismatch {
                line: vline,
                expected: table.to_string(),
                found: vtable.to_string(),
            });
        }
        let names: Vec<&str> = names.split_whitespace().collect();
        let values: Vec<&str> = values.split_whitespace().collect();
        if names.len() != values.len() {
            return Err(NetstatError::CountMismatch {
                line: vline,
                names: names.len(),
                values: values.len(),
            });
        }
        let counters = tables.entry(table.to_string()).or_default();
        for (name, value) in names.into_iter().zip(values) {
            // Some kernels print signed counters (TcpExt TCPOrigDataSent
            // never is, but Tcp MaxConn is -1): keep negative as 0.
            let v = match value.parse::<u64>() {
                Ok(v) => v,
                Err(_) if value.parse::<i64>().is_ok() => 0,
                Err(_) => {
                    return Err(NetstatError::BadValue {
                        line: vline,
                        value: value.to_string(),
                    })
                }
            };
            counters.insert(name.to_string(), v);
        }
    }
    Ok(tables)
}

fn split_table(line: &str) -> Option<(&str, &str)> {
    let (table, rest) = line.split_once(':')?;
    let table = table.trim();
    (!table.is_empty() && !table.contains(char::is_whitespace)).then_some((table, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = "TcpExt: SyncookiesSent SyncookiesRecv\n\
TcpExt: 0 3\n\
IpExt: InNoRoutes InTruncatedPkts\n\
IpExt: 0 0\n\
MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX Blackhole\n\
MPTcpExt: 12 4 4 11 0\n";

    #[test]
    fn parses_mptcpext() {
        let t = parse(FIXTURE).unwrap();
        let m = &t["MPTcpExt"];
        assert_eq!(m["MPCapableSYNRX"], 12);
        assert_eq!(m["MPCapableACKRX"], 11);
        assert_eq!(m["Blackhole"], 0);
        assert_eq!(t["TcpExt"]["SyncookiesRecv"], 3);
    }

    #[test]
    fn errors_are_structured() {
        assert_eq!(
            parse("MPTcpExt: A B\n"),
            Err(NetstatError::MissingValues { line: 1 })
        );
        assert_eq!(
            parse("MPTcpExt: A B\nMPTcpExt: 1\n"),
            Err(NetstatError::CountMismatch {
                line: 2,
                names: 2,
                values: 1
            })
        );
        assert!(matches!(
            parse("MPTcpExt: A\nTcpExt: 1\n"),
            Err(NetstatError::TableMismatch { line: 2, .. })
        ));
        assert!(matches!(
            parse("MPTcpExt: A\nMPTcpExt: x\n"),
            Err(NetstatError::BadValue { line: 2, .. })
        ));
        assert_eq!(parse("garbage\n"), Err(NetstatError::NoTable { line: 1 }));
    }

    #[test]
    fn every_truncation_gives_a_result_without_panic() {
        for cut in 0..FIXTURE.len() {
            let _ = parse(&FIXTURE[..cut]);
        }
    }

    #[test]
    fn parses_this_hosts_file() {
        match std::fs::read_to_string("/proc/net/netstat") {
            Ok(text) => {
                let t = parse(&text).unwrap();
                assert!(t.contains_key("TcpExt"));
            }
            Err(e) => println!("skipped: /proc/net/netstat unreadable: {e}"),
        }
    }
}
