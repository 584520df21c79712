//! A sequence diagram of a traced exchange, as SVG: the client's and the
//! server's lifelines, one arrow per captured packet, and beside each
//! arrow's start the line of the example that sent it.

use std::fmt::Write as _;

use super::explain::{Explained, Phase, Side};
use super::packet::{Packet, Protocol};

const WIDTH: usize = 760;
const CLIENT_X: usize = 250;
const SERVER_X: usize = 510;
const TOP: usize = 96;
const ROW: usize = 40;

/// The diagram of `packets`, titled `title`, with the programs' names
/// under "client" and "server".
pub fn draw(
    title: &str,
    [client_name, server_name]: [&str; 2],
    packets: &[(Packet, Explained)],
) -> String {
    let height = TOP + ROW * packets.len() + 40;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">
<title>{}</title>
<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>
<rect width="100%" height="100%" fill="white"/>
<text x="{CLIENT_X}" y="28" text-anchor="middle" font-weight="bold">client</text>
<text x="{CLIENT_X}" y="46" text-anchor="middle" font-family="monospace" font-size="12">{}</text>
<text x="{SERVER_X}" y="28" text-anchor="middle" font-weight="bold">server</text>
<text x="{SERVER_X}" y="46" text-anchor="middle" font-family="monospace" font-size="12">{}</text>
<line x1="{CLIENT_X}" y1="58" x2="{CLIENT_X}" y2="{}" stroke="#888" stroke-width="2"/>
<line x1="{SERVER_X}" y1="58" x2="{SERVER_X}" y2="{}" stroke="#888" stroke-width="2"/>
"##,
        escape(title),
        escape(client_name),
        escape(server_name),
        height - 20,
        height - 20,
    );
    let mut phase = None;
    for (index, (packet, explained)) in packets.iter().enumerate() {
        let y = TOP + ROW * index;
        if packet.tcp.is_some() && phase != Some(explained.phase) {
            phase = Some(explained.phase);
            let name = match explained.phase {
                Phase::Handshake => "handshake",
                Phase::Data => "data",
                Phase::Teardown => "teardown",
            };
            let _ = writeln!(
                svg,
                r##"<line x1="10" y1="{0}" x2="{1}" y2="{0}" stroke="#bbb" stroke-dasharray="4 4"/><text x="{2}" y="{3}" text-anchor="end" fill="#777" font-style="italic">{name}</text>"##,
                y - 14,
                WIDTH - 10,
                WIDTH - 14,
                y - 18,
            );
        }
        let (from_x, to_x) = match explained.side {
            Side::Client => (CLIENT_X, SERVER_X),
            Side::Server => (SERVER_X, CLIENT_X),
        };
        let colour = match (packet.protocol, packet.tcp) {
            (Protocol::Icmp, _) => "#c60",
            (_, Some(tcp)) if tcp.rst => "#c00",
            _ if explained.side == Side::Client => "#1f5fbf",
            _ => "#1a7f37",
        };
        let label = match packet.tcp {
            Some(tcp) => {
                format!("{} len={}", tcp.flags(), packet.payload.len())
            }
            None if packet.protocol == Protocol::Icmp => {
                "ICMP port unreachable".to_string()
            }
            None => format!("UDP len={}", packet.payload.len()),
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{from_x}" y1="{y}" x2="{to_x}" y2="{}" stroke="{colour}" stroke-width="2" marker-end="url(#head)"/>"##,
            y + 16,
        );
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle" font-family="monospace" font-size="12" fill="{colour}">{}</text>"##,
            (CLIENT_X + SERVER_X) / 2,
            y + 3,
            escape(&label),
        );
        let (x, anchor) = match explained.side {
            Side::Client => (CLIENT_X - 8, "end"),
            Side::Server => (SERVER_X + 8, "start"),
        };
        let _ = writeln!(
            svg,
            r##"<text x="{x}" y="{}" text-anchor="{anchor}" font-family="monospace" font-size="11">{}</text>"##,
            y + 12,
            escape(&explained.short),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
