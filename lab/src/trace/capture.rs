//! Capturing every frame on the loopback interface through a Linux packet
//! socket, in a background thread, and writing frames as a pcap file.

use std::fs::File;
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// One frame as the loopback interface carried it.
pub struct Frame {
    /// When the capture thread received it.
    pub at: Instant,
    /// The same moment as wall-clock time, for the pcap file.
    pub wall: Duration,
    /// The Ethernet frame (on `lo`, with all-zero addresses).
    pub bytes: Vec<u8>,
}

/// Why capture could not start.
pub enum Refused {
    /// The process lacks CAP_NET_RAW.
    NotPermitted,
    /// Anything else, described.
    Failed(String),
}

/// `sll_pkttype` of a frame the host sent (linux/if_packet.h). On `lo`
/// every frame is seen twice, leaving and arriving; like tcpdump, keep
/// only the arriving copy.
const PACKET_OUTGOING: u8 = 4;

/// A running capture on `lo`; frames arrive on `frames` until `stop`.
pub struct Capture {
    pub frames: Receiver<Frame>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    /// Opens a packet socket bound to `lo` and starts reading it. Every
    /// frame the kernel hands over after this returns is captured.
    pub fn start() -> Result<Capture, Refused> {
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        let socket = Socket::new(
            Domain::PACKET,
            Type::RAW,
            Some(Protocol::from(i32::from(protocol))),
        )
        .map_err(|error| match error.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => Refused::NotPermitted,
            _ => {
                Refused::Failed(format!("cannot open a packet socket: {error}"))
            }
        })?;
        let index = loopback_index().map_err(Refused::Failed)?;
        socket
            .bind(&link_address(index, protocol))
            .map_err(|error| {
                Refused::Failed(format!("cannot bind to lo: {error}"))
            })?;
        // Other programs may be busy on loopback too: a large buffer keeps
        // the kernel from dropping frames while this thread catches up.
        let _ = socket.set_recv_buffer_size(8 << 20);
        // A short timeout lets the thread notice `stop`.
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(|error| {
                Refused::Failed(format!("cannot set a timeout: {error}"))
            })?;
        let (sender, frames) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut buffer = vec![MaybeUninit::new(0u8); 70_000];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((length, from)) = socket.recv_from(&mut buffer)
                    else {
                        continue;
                    };
                    if packet_type(&from) == Some(PACKET_OUTGOING) {
                        continue;
                    }
                    let at = Instant::now();
                    let wall = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default();
                    // SAFETY: recv_from initialised the first `length`
                    // bytes (and the buffer was initialised to zero).
                    let bytes = buffer[..length]
                        .iter()
                        .map(|byte| unsafe { byte.assume_init() })
                        .collect();
                    if sender.send(Frame { at, wall, bytes }).is_err() {
                        break;
                    }
                }
            })
        };
        Ok(Capture {
            frames,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn loopback_index() -> Result<i32, String> {
    // SAFETY: the name is a NUL-terminated C string.
    let index = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    if index == 0 {
        return Err(format!(
            "there is no loopback interface `lo`: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(index as i32)
}

/// The `sockaddr_ll` that binds a packet socket to one interface.
fn link_address(index: i32, protocol: u16) -> SockAddr {
    // SAFETY: the storage is zeroed and large enough for a sockaddr_ll;
    // the family and length say that it holds one.
    let ((), address) = unsafe {
        SockAddr::try_init(|storage, length| {
            let link = storage.cast::<libc::sockaddr_ll>();
            (*link).sll_family = libc::AF_PACKET as u16;
            (*link).sll_protocol = protocol;
            (*link).sll_ifindex = index;
            *length = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            Ok(())
        })
    }
    .expect("initialising an address cannot fail");
    address
}

fn packet_type(address: &SockAddr) -> Option<u8> {
    if address.family() != libc::AF_PACKET as libc::sa_family_t {
        return None;
    }
    // SAFETY: the family says the storage holds a sockaddr_ll.
    let link = unsafe { &*address.as_ptr().cast::<libc::sockaddr_ll>() };
    Some(link.sll_pkttype)
}

/// Brings `lo` up if it is down, as it is in a new network namespace
/// (`unshare --net`). Returns whether it had to.
pub fn bring_loopback_up() -> Result<bool, String> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)
        .map_err(|error| format!("cannot open a socket: {error}"))?;
    // SAFETY: ifreq is plain data; the name fits with its NUL.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (to, from) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *to = *from as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write an ifreq.
    unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(format!(
                "cannot read the flags of lo: {}",
                io::Error::last_os_error()
            ));
        }
        if request.ifr_ifru.ifru_flags & libc::IFF_UP as libc::c_short != 0 {
            return Ok(false);
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(fd, libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(format!(
                "lo is down and cannot be brought up: {}",
                io::Error::last_os_error()
            ));
        }
    }
    Ok(true)
}

/// Writes frames to a pcap file that Wireshark and `tcpdump -r` read.
pub struct PcapFile {
    // Unbuffered: every packet is in the file as soon as it is written,
    // even if the program is stopped right after (watch mode, Ctrl-C).
    writer: PcapWriter<File>,
}

impl PcapFile {
    pub fn create(path: &Path) -> Result<PcapFile, String> {
        let cannot = |error: &dyn std::fmt::Display| {
            format!("cannot write {}: {error}", path.display())
        };
        let file = File::create(path).map_err(|error| cannot(&error))?;
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            // lo's MTU is 65536: with its 14-byte header, a frame fits.
            snaplen: 65_536 + 14,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(file, header)
            .map_err(|error| cannot(&error))?;
        Ok(PcapFile { writer })
    }

    /// Appends one frame.
    pub fn write(&mut self, frame: &Frame) -> Result<(), String> {
        let packet =
            PcapPacket::new(frame.wall, frame.bytes.len() as u32, &frame.bytes);
        self.writer
            .write_packet(&packet)
            .map(drop)
            .map_err(|error| format!("cannot write the pcap file: {error}"))
    }
}
