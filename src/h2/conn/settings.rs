//! SETTINGS (RFC 9113 §6.5): what we advertise, and the peer's values in force.

use super::Config;
use crate::h2::frame::{DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_WINDOW, Setting};

/// The initial flow-control window of every stream and of the connection (§6.9.2).
pub(super) const DEFAULT_WINDOW: u32 = 65_535;
/// The peer's SETTINGS_HEADER_TABLE_SIZE we honour at most, to bound our encoder's memory.
pub(super) const MAX_ENCODER_TABLE: u32 = 4096 * 16;
/// Client role: the peer's MAX_CONCURRENT_STREAMS we assume until its first SETTINGS arrives.
pub(super) const ASSUMED_MAX_CONCURRENT: u32 = 100;

/// The peer's settings in force (RFC 9113 §6.5.2 defaults until it says otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerSettings {
    /// Whether the peer's first SETTINGS frame has arrived.
    pub received: bool,
    pub header_table_size: u32,
    pub enable_push: bool,
    /// Client role: `ASSUMED_MAX_CONCURRENT` (100) until the peer's SETTINGS arrive, then unlimited
    /// (`u32::MAX`) unless it set a value.
    pub max_concurrent_streams: u32,
    pub initial_window_size: u32,
    pub max_frame_size: u32,
    /// `u32::MAX` when the peer did not set one.
    pub max_header_list_size: u32,
    pub enable_connect_protocol: bool,
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            received: false,
            header_table_size: 4096,
            enable_push: true,
            max_concurrent_streams: ASSUMED_MAX_CONCURRENT,
            initial_window_size: DEFAULT_WINDOW,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: u32::MAX,
            enable_connect_protocol: false,
        }
    }
}

/// The config with every advertised value clamped to its legal range.
pub(super) fn sanitize(config: &Config) -> Config {
    let mut c = config.clone();
    c.initial_window_size = c.initial_window_size.min(MAX_WINDOW);
    c.connection_window_size = c.connection_window_size.clamp(DEFAULT_WINDOW, MAX_WINDOW);
    c.max_frame_size = c
        .max_frame_size
        .clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
    c
}

/// The SETTINGS we send at the start: non-default values, plus always MAX_CONCURRENT_STREAMS,
/// INITIAL_WINDOW_SIZE, MAX_HEADER_LIST_SIZE and ENABLE_PUSH=0. Returns the count used in `out`.
pub(super) fn ours(config: &Config, out: &mut [Setting; 6]) -> usize {
    let mut n = 0;
    let mut put = |s: Setting| {
        if let Some(slot) = out.get_mut(n) {
            *slot = s;
            n += 1;
        }
    };
    if config.header_table_size != 4096 {
        put(Setting::HeaderTableSize(config.header_table_size));
    }
    put(Setting::EnablePush(0));
    put(Setting::MaxConcurrentStreams(config.max_concurrent_streams));
    put(Setting::InitialWindowSize(config.initial_window_size));
    if config.max_frame_size != DEFAULT_MAX_FRAME_SIZE {
        put(Setting::MaxFrameSize(config.max_frame_size));
    }
    put(Setting::MaxHeaderListSize(config.max_header_list_size));
    n
}
