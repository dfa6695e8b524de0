//! h2spec "http2": SETTINGS (RFC 9113 §6.5, §6.5.2, §6.5.3) and flow control (§6.9, §6.9.1,
//! §6.9.2).
//!
//! The flow-control cases request `/size/16`: the in-process application answers that path with
//! 16 octets, enough to observe window-limited DATA frames. A socket target only needs to answer
//! with a body of at least 5 octets (h2spec's own precondition).

use super::{Case, case};
use crate::peer::*;

const H: &str = "http2";

/// Changes our INITIAL_WINDOW_SIZE and waits for the acknowledgement (after which the server
/// has applied it, §6.5.3).
fn set_window(p: &mut Peer, size: u32) -> R {
    p.settings(&[(INITIAL_WINDOW_SIZE, size)]);
    p.expect_settings_ack()
}

pub fn cases() -> Vec<Case> {
    vec![
        // --- 6.5: SETTINGS
        case(
            H,
            "6.5",
            1,
            "Sends a SETTINGS frame with ACK flag and payload",
            |p| {
                // "Receipt of a SETTINGS frame with the ACK flag set and a length field value other
                // than 0 MUST be treated as a connection error of type FRAME_SIZE_ERROR."
                p.handshake()?;
                p.send_frame(SETTINGS, ACK, 0, &[0]);
                p.expect_connection_error(&[FRAME_SIZE_ERROR])
            },
        ),
        case(
            H,
            "6.5",
            2,
            "Sends a SETTINGS frame with 0x1 stream identifier",
            |p| {
                p.handshake()?;
                p.send_frame(SETTINGS, 0, 1, &[0, 3, 0, 0, 0, 100]);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.5",
            3,
            "Sends a SETTINGS frame with a length other than a multiple of 6 octets",
            |p| {
                // "A SETTINGS frame with a length other than a multiple of 6 octets MUST be
                // treated as a connection error of type FRAME_SIZE_ERROR." (h2spec also accepts
                // PROTOCOL_ERROR: "A badly formed or incomplete SETTINGS frame".)
                p.handshake()?;
                p.send_frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 2]);
                p.expect_connection_error(&[FRAME_SIZE_ERROR, PROTOCOL_ERROR])
            },
        ),
        // --- 6.5.2: Defined SETTINGS Parameters
        case(
            H,
            "6.5.2",
            1,
            "SETTINGS_ENABLE_PUSH (0x2): Sends the value other than 0 or 1",
            |p| {
                p.handshake()?;
                p.settings(&[(ENABLE_PUSH, 2)]);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.5.2",
            2,
            "SETTINGS_INITIAL_WINDOW_SIZE (0x4): Sends the value above the maximum flow control window size",
            |p| {
                p.handshake()?;
                p.settings(&[(INITIAL_WINDOW_SIZE, 1 << 31)]);
                p.expect_connection_error(&[FLOW_CONTROL_ERROR])
            },
        ),
        case(
            H,
            "6.5.2",
            3,
            "SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value below the initial value",
            |p| {
                p.handshake()?;
                p.settings(&[(MAX_FRAME_SIZE, 16383)]);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.5.2",
            4,
            "SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value above the maximum allowed frame size",
            |p| {
                p.handshake()?;
                p.settings(&[(MAX_FRAME_SIZE, 1 << 24)]);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.5.2",
            5,
            "Sends a SETTINGS frame with unknown identifier",
            |p| {
                // "An endpoint that receives a SETTINGS frame with any unknown or unsupported
                // identifier MUST ignore that setting" (and still acknowledge the frame).
                p.handshake()?;
                p.settings(&[(0xff, 1)]);
                p.expect_settings_ack()?;
                p.ping_check()
            },
        ),
        // --- 6.5.3: Settings Synchronization
        case(
            H,
            "6.5.3",
            1,
            "Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE",
            |p| {
                // "The values in the SETTINGS frame MUST be processed in the order they appear":
                // the last one (1) wins.
                p.handshake()?;
                p.settings(&[(INITIAL_WINDOW_SIZE, 100), (INITIAL_WINDOW_SIZE, 1)]);
                p.expect_settings_ack()?;
                p.request(1, "GET", "/size/16", END_STREAM | END_HEADERS);
                p.expect_data_len(1, 1)
            },
        ),
        case(
            H,
            "6.5.3",
            2,
            "Sends a SETTINGS frame without ACK flag",
            |p| {
                // "Once all values have been processed, the recipient MUST immediately emit a
                // SETTINGS frame with the ACK flag set."
                p.handshake()?;
                p.settings(&[(ENABLE_PUSH, 0)]);
                p.expect_settings_ack()
            },
        ),
        // --- 6.9: WINDOW_UPDATE
        case(
            H,
            "6.9",
            1,
            "Sends a WINDOW_UPDATE frame with a flow control window increment of 0",
            |p| {
                // "A receiver MUST treat the receipt of a WINDOW_UPDATE frame with a
                // flow-control window increment of 0 as a stream error of type PROTOCOL_ERROR;
                // errors on the connection flow-control window MUST be treated as a connection
                // error."
                p.handshake()?;
                p.window_update(0, 0);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.9",
            2,
            "Sends a WINDOW_UPDATE frame with a flow control window increment of 0 on a stream",
            |p| {
                p.handshake()?;
                p.request(1, "GET", "/", END_HEADERS);
                p.window_update(1, 0);
                p.expect_stream_error(1, &[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.9",
            3,
            "Sends a WINDOW_UPDATE frame with a length other than 4 octets",
            |p| {
                // "A WINDOW_UPDATE frame with a length other than 4 octets MUST be treated as a
                // connection error of type FRAME_SIZE_ERROR."
                p.handshake()?;
                p.send_frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1]);
                p.expect_connection_error(&[FRAME_SIZE_ERROR])
            },
        ),
        // --- 6.9.1: The Flow-Control Window
        case(
            H,
            "6.9.1",
            1,
            "Sends SETTINGS frame to set the initial window size to 1 and sends HEADERS frame",
            |p| {
                // "The sender MUST NOT send a flow-controlled frame with a length that exceeds
                // the space available in either of the flow-control windows."
                p.handshake()?;
                set_window(p, 1)?;
                p.request(1, "GET", "/size/16", END_STREAM | END_HEADERS);
                p.expect_data_len(1, 1)?;
                // And nothing more until the window grows.
                p.expect_no_data(1)
            },
        ),
        case(
            H,
            "6.9.1",
            2,
            "Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1",
            |p| {
                // "If a sender receives a WINDOW_UPDATE that causes a flow-control window to
                // exceed this maximum, it MUST terminate either the stream or the connection
                // ... for the connection, a GOAWAY frame with an error code of
                // FLOW_CONTROL_ERROR is sent."
                p.handshake()?;
                p.window_update(0, 0x7fff_ffff);
                p.window_update(0, 0x7fff_ffff);
                p.expect_goaway(&[FLOW_CONTROL_ERROR])
            },
        ),
        case(
            H,
            "6.9.1",
            3,
            "Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1 on a stream",
            |p| {
                // "For streams, the sender sends a RST_STREAM with an error code of
                // FLOW_CONTROL_ERROR."
                p.handshake()?;
                p.request(1, "GET", "/", END_HEADERS);
                p.window_update(1, 0x7fff_ffff);
                p.window_update(1, 0x7fff_ffff);
                p.expect_rst_stream(1, &[FLOW_CONTROL_ERROR])
            },
        ),
        // --- 6.9.2: Initial Flow-Control Window Size
        case(
            H,
            "6.9.2",
            1,
            "Changes SETTINGS_INITIAL_WINDOW_SIZE after sending HEADERS frame",
            |p| {
                // "When the value of SETTINGS_INITIAL_WINDOW_SIZE changes, a receiver MUST adjust
                // the size of all stream flow-control windows that it maintains by the
                // difference between the new value and the old value."
                p.handshake()?;
                set_window(p, 0)?;
                p.request(1, "GET", "/size/16", END_STREAM | END_HEADERS);
                // Not waiting for this ACK first: the 1-octet DATA may precede it.
                p.settings(&[(INITIAL_WINDOW_SIZE, 1)]);
                p.expect_data_len(1, 1)
            },
        ),
        case(
            H,
            "6.9.2",
            2,
            "Sends a SETTINGS frame for window size to be negative",
            |p| {
                // "A sender MUST track the negative flow-control window and MUST NOT send new
                // flow-controlled frames until it receives WINDOW_UPDATE frames that cause the
                // flow-control window to become positive." 3 sent, window 3 -> 2 makes it -1,
                // +2 makes it 1: exactly one more octet.
                p.handshake()?;
                set_window(p, 3)?;
                p.request(1, "GET", "/size/16", END_STREAM | END_HEADERS);
                p.expect_data_total(1, 3)?;
                set_window(p, 2)?;
                p.window_update(1, 2);
                p.expect_data_len(1, 1)
            },
        ),
        case(
            H,
            "6.9.2",
            3,
            "Sends a SETTINGS_INITIAL_WINDOW_SIZE settings with an exceeded maximum window size value",
            |p| {
                p.handshake()?;
                p.send_frame(SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0]);
                p.expect_connection_error(&[FLOW_CONTROL_ERROR])
            },
        ),
    ]
}
