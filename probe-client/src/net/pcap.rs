//! `--write FILE.pcap`: every probe sent and every packet received, with
//! their timestamps, as raw IP packets (LINKTYPE_RAW, 101) that Wireshark,
//! tcpdump and `mptcp-probe analyze` read.
use super::error::NetError;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Writes packets to any `Write` (a file for `--write`, memory in tests).
pub struct PcapRecorder<W: Write> {
    writer: PcapWriter<W>,
    path: PathBuf,
}

impl<W: Write> std::fmt::Debug for PcapRecorder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapRecorder")
            .field("path", &self.path)
            .finish()
    }
}

fn header() -> PcapHeader {
    PcapHeader {
        datalink: DataLink::RAW,
        // Kernel receive timestamps have nanoseconds; keep them.
        ts_resolution: TsResolution::NanoSecond,
        snaplen: 65535,
        ..PcapHeader::default()
    }
}

impl PcapRecorder<BufWriter<File>> {
    /// Creates (truncates) `path`. Call after privileges were dropped, so
    /// the file belongs to the user who ran the command.
    pub fn create(path: &Path) -> Result<Self, NetError> {
        let file = File::create(path)
            .map_err(|e| NetError::io(format!("creating {}", path.display()), e))?;
        Self::new(BufWriter::new(file), path)
    }
}

impl<W: Write> PcapRecorder<W> {
    pub fn new(writer: W, path: &Path) -> Result<Self, NetError> {
        let writer = PcapWriter::with_header(writer, header()).map_err(|e| {
            NetError::io(
                format!("writing {}", path.display()),
                std::io::Error::other(e),
            )
        })?;
        Ok(PcapRecorder {
            writer,
            path: path.to_path_buf(),
        })
    }

    /// Records one whole IP packet seen or sent at `at`.
    pub fn record(&mut self, at: SystemTime, packet: &[u8]) -> Result<(), NetError> {
        let ts = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        self.writer
            .write_packet(&PcapPacket::new(ts, len, packet))
            .map_err(|e| {
                NetError::io(
                    format!("writing {}", self.path.display()),
                    std::io::Error::other(e),
                )
            })?;
        Ok(())
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(self) -> Result<W, NetError> {
        let path = self.path;
        let mut inner = self.writer.into_writer();
        inner
            .flush()
            .map_err(|e| NetError::io(format!("writing {}", path.display()), e))?;
        Ok(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    #[test]
    fn round_trip_keeps_bytes_and_nanoseconds() {
        let mut rec = PcapRecorder::new(Vec::new(), Path::new("memory")).unwrap();
        let at = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let pkt = [
            0x45u8, 0, 0, 20, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        rec.record(at, &pkt).unwrap();
        rec.record(at + Duration::from_micros(5), &pkt[..]).unwrap();
        let bytes = rec.finish().unwrap();
        let mut reader = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.header().datalink, DataLink::RAW);
        let first = reader.next_packet().unwrap().unwrap();
        assert_eq!(first.timestamp, Duration::new(1_700_000_000, 123_456_789));
        assert_eq!(&first.data[..], &pkt[..]);
        let second = reader.next_packet().unwrap().unwrap();
        assert_eq!(second.timestamp, Duration::new(1_700_000_000, 123_461_789));
        assert!(reader.next_packet().is_none());
    }
}
