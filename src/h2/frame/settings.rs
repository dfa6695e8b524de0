//! SETTINGS (RFC 9113 §6.5). Values are range-checked here; applying them is the connection's job.

use super::window_update::MAX_WINDOW;
use super::{DEFAULT_MAX_FRAME_SIZE, Head, MAX_MAX_FRAME_SIZE, conn_err, flag, kind, read_u32};
use crate::h2::error::{ErrorCode, H2Error};

/// Setting identifiers (RFC 9113 §6.5.2). Unknown identifiers are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    HeaderTableSize(u32),
    EnablePush(u32),
    MaxConcurrentStreams(u32),
    InitialWindowSize(u32),
    MaxFrameSize(u32),
    MaxHeaderListSize(u32),
    /// RFC 8441 extended CONNECT.
    EnableConnectProtocol(u32),
    Unknown(u16, u32),
}

impl Setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

    pub fn from_pair(id: u16, value: u32) -> Setting {
        match id {
            Self::HEADER_TABLE_SIZE => Setting::HeaderTableSize(value),
            Self::ENABLE_PUSH => Setting::EnablePush(value),
            Self::MAX_CONCURRENT_STREAMS => Setting::MaxConcurrentStreams(value),
            Self::INITIAL_WINDOW_SIZE => Setting::InitialWindowSize(value),
            Self::MAX_FRAME_SIZE => Setting::MaxFrameSize(value),
            Self::MAX_HEADER_LIST_SIZE => Setting::MaxHeaderListSize(value),
            Self::ENABLE_CONNECT_PROTOCOL => Setting::EnableConnectProtocol(value),
            _ => Setting::Unknown(id, value),
        }
    }

    pub fn to_pair(self) -> (u16, u32) {
        match self {
            Setting::HeaderTableSize(v) => (Self::HEADER_TABLE_SIZE, v),
            Setting::EnablePush(v) => (Self::ENABLE_PUSH, v),
            Setting::MaxConcurrentStreams(v) => (Self::MAX_CONCURRENT_STREAMS, v),
            Setting::InitialWindowSize(v) => (Self::INITIAL_WINDOW_SIZE, v),
            Setting::MaxFrameSize(v) => (Self::MAX_FRAME_SIZE, v),
            Setting::MaxHeaderListSize(v) => (Self::MAX_HEADER_LIST_SIZE, v),
            Setting::EnableConnectProtocol(v) => (Self::ENABLE_CONNECT_PROTOCOL, v),
            Setting::Unknown(id, v) => (id, v),
        }
    }

    /// The range checks of RFC 9113 §6.5.2 (and RFC 8441 §3).
    fn check(self) -> Result<Setting, H2Error> {
        match self {
            Setting::EnablePush(v) | Setting::EnableConnectProtocol(v) if v > 1 => {
                Err(conn_err(ErrorCode::PROTOCOL_ERROR))
            }
            Setting::InitialWindowSize(v) if v > MAX_WINDOW => {
                Err(conn_err(ErrorCode::FLOW_CONTROL_ERROR))
            }
            Setting::MaxFrameSize(v)
                if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&v) =>
            {
                Err(conn_err(ErrorCode::PROTOCOL_ERROR))
            }
            s => Ok(s),
        }
    }
}

/// A SETTINGS frame; its parameters were all range-checked during parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<'a> {
    pub ack: bool,
    payload: &'a [u8],
}

impl<'a> Settings<'a> {
    pub(super) fn parse(head: Head, payload: &'a [u8]) -> Result<Self, H2Error> {
        if head.stream_id != 0 {
            return Err(conn_err(ErrorCode::PROTOCOL_ERROR));
        }
        let ack = head.has(flag::ACK);
        if ack && !payload.is_empty() {
            return Err(conn_err(ErrorCode::FRAME_SIZE_ERROR));
        }
        if payload.len() % 6 != 0 {
            return Err(conn_err(ErrorCode::FRAME_SIZE_ERROR));
        }
        let settings = Settings { ack, payload };
        for s in settings.iter() {
            s.check()?;
        }
        Ok(settings)
    }

    /// The parameters in the order the peer sent them (later ones win, RFC 9113 §6.5.3).
    pub fn iter(&self) -> SettingsIter<'a> {
        SettingsIter { rest: self.payload }
    }
}

pub struct SettingsIter<'a> {
    rest: &'a [u8],
}

impl Iterator for SettingsIter<'_> {
    type Item = Setting;

    fn next(&mut self) -> Option<Setting> {
        let (entry, rest) = self.rest.split_first_chunk::<6>()?;
        self.rest = rest;
        let id = u16::from_be_bytes([entry[0], entry[1]]);
        Some(Setting::from_pair(id, read_u32(&entry[2..])))
    }
}

/// Appends a SETTINGS frame carrying `settings`.
pub fn encode_settings(out: &mut Vec<u8>, settings: &[Setting]) {
    Head {
        len: (settings.len() * 6) as u32,
        kind: kind::SETTINGS,
        flags: 0,
        stream_id: 0,
    }
    .encode(out);
    for s in settings {
        let (id, value) = s.to_pair();
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

pub fn encode_settings_ack(out: &mut Vec<u8>) {
    Head {
        len: 0,
        kind: kind::SETTINGS,
        flags: flag::ACK,
        stream_id: 0,
    }
    .encode(out);
}
