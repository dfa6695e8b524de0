//! Expectations: what a case waits for after sending its frames, with h2spec's acceptance rules
//! (a connection error is GOAWAY with the code or a close; a stream error is RST_STREAM or
//! GOAWAY with the code, or a close) made stricter where RFC 9113 is explicit.

use crate::peer::*;

impl Peer {
    /// A connection error: GOAWAY with one of `codes` followed by the connection closing, or the
    /// connection closing (h2spec's rule: a GOAWAY is a SHOULD). A GOAWAY with another code
    /// fails the case even if the connection then closes.
    pub fn expect_connection_error(&mut self, codes: &[u32]) -> R {
        self.expect_error(None, codes)
    }

    /// A stream error on `stream`: RST_STREAM(stream) with one of `codes`; also accepted (as
    /// h2spec does) GOAWAY with one of `codes`, or the connection closing.
    pub fn expect_stream_error(&mut self, stream: u32, codes: &[u32]) -> R {
        self.expect_error(Some((stream, codes)), codes)
    }

    /// Either kind of error, each with its own codes.
    pub fn expect_error(&mut self, rst: Option<(u32, &[u32])>, goaway_codes: &[u32]) -> R {
        let expected = match rst {
            Some((s, codes)) => format!(
                "RST_STREAM(stream={s}, {}) or GOAWAY({}) or connection close",
                codes_text(codes),
                codes_text(goaway_codes)
            ),
            None => format!("GOAWAY({}) or connection close", codes_text(goaway_codes)),
        };
        let mut wrong_goaway: Option<String> = None;
        let mut last: Option<String> = None;
        loop {
            match self.next_event() {
                Event::Closed => {
                    if let Some(g) = wrong_goaway {
                        return Err(self.fail(format!("expected {expected}, got {g} then close")));
                    }
                    return Ok(());
                }
                Event::Timeout => {
                    let got = wrong_goaway
                        .or(last)
                        .unwrap_or_else(|| "nothing (timeout)".into());
                    return Err(self.fail(format!("expected {expected}, got {got}")));
                }
                Event::Frame(f) if f.ty == GOAWAY => {
                    let code = f.error_code().unwrap_or(u32::MAX);
                    if goaway_codes.contains(&code) {
                        return self.expect_close_after_goaway(&f);
                    }
                    wrong_goaway = Some(f.describe());
                }
                Event::Frame(f) if f.ty == RST_STREAM => match rst {
                    Some((s, codes)) if f.stream == s => {
                        if codes.contains(&f.error_code().unwrap_or(u32::MAX)) {
                            return Ok(());
                        }
                        return Err(self.fail(format!("expected {expected}, got {}", f.describe())));
                    }
                    _ => last = Some(f.describe()),
                },
                Event::Frame(f) => last = Some(f.describe()),
            }
        }
    }

    /// RFC 9113 §5.4.1: "After sending the GOAWAY frame for an error condition, the endpoint MUST
    /// close the TCP connection."
    fn expect_close_after_goaway(&mut self, goaway: &Frame) -> R {
        loop {
            match self.next_event() {
                Event::Closed => return Ok(()),
                Event::Frame(_) => {}
                Event::Timeout => {
                    return Err(self.fail(format!(
                        "got {} but the connection was not closed (RFC 9113 §5.4.1: after sending \
                         GOAWAY for an error condition the endpoint MUST close the connection)",
                        goaway.describe()
                    )));
                }
            }
        }
    }

    /// A GOAWAY frame is required (not just a close), with one of `codes`; then the close.
    pub fn expect_goaway(&mut self, codes: &[u32]) -> R {
        let mut last: Option<String> = None;
        loop {
            match self.next_event() {
                Event::Frame(f) if f.ty == GOAWAY => {
                    if codes.contains(&f.error_code().unwrap_or(u32::MAX)) {
                        return self.expect_close_after_goaway(&f);
                    }
                    return Err(self.fail(format!(
                        "expected GOAWAY({}), got {}",
                        codes_text(codes),
                        f.describe()
                    )));
                }
                Event::Frame(f) => last = Some(f.describe()),
                Event::Closed => {
                    return Err(self.fail(format!(
                        "expected GOAWAY({}), got connection close without GOAWAY (last: {})",
                        codes_text(codes),
                        last.unwrap_or_else(|| "nothing".into())
                    )));
                }
                Event::Timeout => {
                    return Err(self.fail(format!(
                        "expected GOAWAY({}), got {}",
                        codes_text(codes),
                        last.unwrap_or_else(|| "nothing (timeout)".into())
                    )));
                }
            }
        }
    }

    /// A RST_STREAM on `stream` with one of `codes` is required (not a GOAWAY, not a close).
    pub fn expect_rst_stream(&mut self, stream: u32, codes: &[u32]) -> R {
        let expected = format!("RST_STREAM(stream={stream}, {})", codes_text(codes));
        loop {
            match self.next_event() {
                Event::Frame(f) if f.ty == RST_STREAM && f.stream == stream => {
                    if codes.contains(&f.error_code().unwrap_or(u32::MAX)) {
                        return Ok(());
                    }
                    return Err(self.fail(format!("expected {expected}, got {}", f.describe())));
                }
                Event::Frame(f) if f.ty == GOAWAY => {
                    return Err(self.fail(format!("expected {expected}, got {}", f.describe())));
                }
                Event::Frame(_) => {}
                Event::Closed => {
                    return Err(self.fail(format!("expected {expected}, got connection close")));
                }
                Event::Timeout => {
                    return Err(self.fail(format!("expected {expected}, got nothing (timeout)")));
                }
            }
        }
    }

    /// The connection closes (a GOAWAY first is fine).
    pub fn expect_close(&mut self) -> R {
        loop {
            match self.next_event() {
                Event::Closed => return Ok(()),
                Event::Frame(_) => {}
                Event::Timeout => {
                    return Err(self.fail("expected the connection to be closed, got a timeout"));
                }
            }
        }
    }

    /// A malformed request (RFC 9113 §8.1.1): a stream error of type PROTOCOL_ERROR on `stream`
    /// (RST_STREAM, or GOAWAY, or close), possibly preceded by a 4xx response; or a complete 4xx
    /// response ("a server MAY send an HTTP response prior to closing or resetting the stream").
    /// Any other final status (the request was served) fails.
    pub fn expect_malformed(&mut self, stream: u32) -> R {
        let expected = format!(
            "RST_STREAM(stream={stream}, PROTOCOL_ERROR) or GOAWAY(PROTOCOL_ERROR) or close, or a 4xx response"
        );
        let mut got_4xx = false;
        let mut last: Option<String> = None;
        loop {
            match self.next_event() {
                Event::Closed => return Ok(()),
                Event::Timeout => {
                    let got = last.unwrap_or_else(|| "nothing (timeout)".into());
                    return Err(self.fail(format!("expected {expected}, got {got}")));
                }
                Event::Frame(f) if f.ty == RST_STREAM && f.stream == stream => {
                    if f.error_code() == Some(PROTOCOL_ERROR) {
                        return Ok(());
                    }
                    return Err(self.fail(format!("expected {expected}, got {}", f.describe())));
                }
                Event::Frame(f) if f.ty == GOAWAY => {
                    if f.error_code() == Some(PROTOCOL_ERROR) {
                        return self.expect_close_after_goaway(&f);
                    }
                    return Err(self.fail(format!("expected {expected}, got {}", f.describe())));
                }
                Event::Frame(f) if f.stream == stream && f.ty == HEADERS => {
                    match f.status() {
                        Some(s) if (100..200).contains(&s) => {}
                        Some(s) if (400..500).contains(&s) => got_4xx = true,
                        _ if got_4xx => {}
                        _ => {
                            return Err(self.fail(format!(
                                "expected {expected}; the malformed request was answered: {}",
                                f.describe()
                            )));
                        }
                    }
                    if got_4xx && f.ends(stream) {
                        return Ok(());
                    }
                    last = Some(f.describe());
                }
                Event::Frame(f) => {
                    if got_4xx && f.ends(stream) {
                        return Ok(());
                    }
                    last = Some(f.describe());
                }
            }
        }
    }

    /// A request refused for its size (DoS cases): RST_STREAM on `stream` (any code), GOAWAY
    /// (any code but NO_ERROR) then close, close, or a 4xx (431) response. A 2xx fails.
    /// Returns whether the connection is still up.
    pub fn expect_refused_request(&mut self, stream: u32) -> Result<bool, CaseError> {
        let expected =
            format!("RST_STREAM(stream={stream}) or GOAWAY(error) or close, or a 431/4xx response");
        let mut last: Option<String> = None;
        loop {
            match self.next_event() {
                Event::Closed => return Ok(false),
                Event::Timeout => {
                    let got = last.unwrap_or_else(|| "nothing (timeout)".into());
                    return Err(self.fail(format!("expected {expected}, got {got}")));
                }
                Event::Frame(f) if f.ty == RST_STREAM && f.stream == stream => return Ok(true),
                Event::Frame(f) if f.ty == GOAWAY && f.error_code() != Some(NO_ERROR) => {
                    self.expect_close_after_goaway(&f)?;
                    return Ok(false);
                }
                Event::Frame(f) if f.ty == HEADERS && f.stream == stream => match f.status() {
                    Some(s) if (400..500).contains(&s) => {
                        if !f.has(END_STREAM) {
                            self.expect_stream_end(stream)?;
                        }
                        return Ok(true);
                    }
                    Some(s) if (100..200).contains(&s) => {}
                    _ => {
                        return Err(self.fail(format!(
                            "expected {expected}; the request was answered: {}",
                            f.describe()
                        )));
                    }
                },
                Event::Frame(f) => last = Some(f.describe()),
            }
        }
    }

    /// A PING ACK with `data`. A PING ACK with other data (an answer to a PING that must not be
    /// answered), GOAWAY, close or timeout fails.
    pub fn expect_ping_ack(&mut self, data: [u8; 8]) -> R {
        loop {
            match self.next_event() {
                Event::Frame(f) if f.ty == PING && f.has(ACK) => {
                    if f.payload == data {
                        return Ok(());
                    }
                    return Err(self.fail(format!(
                        "expected PING(ACK, {data:02x?}), got {}",
                        f.describe()
                    )));
                }
                Event::Frame(f) if f.ty == GOAWAY => {
                    return Err(self.fail(format!(
                        "expected PING(ACK, {data:02x?}), got {}",
                        f.describe()
                    )));
                }
                Event::Frame(_) => {}
                Event::Closed => {
                    return Err(self.fail(format!(
                        "expected PING(ACK, {data:02x?}), got connection close"
                    )));
                }
                Event::Timeout => {
                    return Err(self.fail(format!(
                        "expected PING(ACK, {data:02x?}), got nothing (timeout)"
                    )));
                }
            }
        }
    }

    /// Sends a PING and expects its ACK: the connection is alive and was not torn down.
    pub fn ping_check(&mut self) -> R {
        let data = *b"h2edge\0\x01";
        self.ping(data);
        self.expect_ping_ack(data)
    }

    /// A SETTINGS ACK.
    pub fn expect_settings_ack(&mut self) -> R {
        loop {
            match self.next_event() {
                Event::Frame(f) if f.ty == SETTINGS && f.has(ACK) => {
                    if !f.payload.is_empty() {
                        return Err(self.fail("SETTINGS ACK with a payload"));
                    }
                    return Ok(());
                }
                Event::Frame(f) if f.ty == GOAWAY => {
                    return Err(self.fail(format!("expected SETTINGS(ACK), got {}", f.describe())));
                }
                Event::Frame(_) => {}
                Event::Closed => {
                    return Err(self.fail("expected SETTINGS(ACK), got connection close"));
                }
                Event::Timeout => {
                    return Err(self.fail("expected SETTINGS(ACK), got nothing (timeout)"));
                }
            }
        }
    }

    /// The response head on `stream` (interim 1xx heads skipped); returns its frame.
    pub fn expect_headers(&mut self, stream: u32) -> Result<Frame, CaseError> {
        loop {
            match self.next_event() {
                Event::Frame(f) if f.ty == HEADERS && f.stream == stream => {
                    // A head split over CONTINUATION frames completes on the last of them.
                    let f = if f.has(END_HEADERS) {
                        f
                    } else {
                        self.finish_block(f)?
                    };
                    match &f.fields {
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            return Err(self.fail(format!(
                                "response field block on stream {stream} could not be decoded: {e}"
                            )));
                        }
                        None => return Err(self.fail("response field block incomplete")),
                    }
                    match f.status() {
                        Some(s) if (100..200).contains(&s) => continue,
                        Some(_) => return Ok(f),
                        None => {
                            return Err(self.fail(format!(
                                "response on stream {stream} has no valid :status: {}",
                                f.describe()
                            )));
                        }
                    }
                }
                Event::Frame(f) if (f.ty == RST_STREAM && f.stream == stream) || f.ty == GOAWAY => {
                    return Err(self.fail(format!(
                        "expected a response HEADERS on stream {stream}, got {}",
                        f.describe()
                    )));
                }
                Event::Frame(_) => {}
                Event::Closed => {
                    return Err(self.fail(format!(
                        "expected a response HEADERS on stream {stream}, got connection close"
                    )));
                }
                Event::Timeout => {
                    return Err(self.fail(format!(
                        "expected a response HEADERS on stream {stream}, got nothing (timeout)"
                    )));
                }
            }
        }
    }

    fn finish_block(&mut self, head: Frame) -> Result<Frame, CaseError> {
        let mut head = head;
        loop {
            match self.next_event() {
                Event::Frame(c) if c.ty == CONTINUATION => {
                    if c.has(END_HEADERS) {
                        head.fields = c.fields;
                        head.flags |= END_HEADERS;
                        return Ok(head);
                    }
                }
                Event::Frame(other) => {
                    return Err(self.fail(format!(
                        "server interleaved {} inside a field block (RFC 9113 §4.3)",
                        other.describe()
                    )));
                }
                _ => return Err(self.fail("field block from the server never completed")),
            }
        }
    }

    /// A final response with `:status 200` on `stream`.
    pub fn expect_ok_response(&mut self, stream: u32) -> R {
        let f = self.expect_headers(stream)?;
        if f.status() != Some(200) {
            return Err(self.fail(format!(
                "expected :status 200 on stream {stream}, got {}",
                f.describe()
            )));
        }
        Ok(())
    }

    /// Reads until `stream` ends (END_STREAM on HEADERS or DATA); returns the DATA length seen.
    pub fn expect_stream_end(&mut self, stream: u32) -> Result<usize, CaseError> {
        let mut total = 0;
        loop {
            match self.next_event() {
                Event::Frame(f) if f.ty == DATA && f.stream == stream => {
                    total += f.payload.len();
                    if f.has(END_STREAM) {
                        return Ok(total);
                    }
                }
                Event::Frame(f) if f.ends(stream) => return Ok(total),
                Event::Frame(f) if (f.ty == RST_STREAM && f.stream == stream) || f.ty == GOAWAY => {
                    return Err(self.fail(format!(
                        "expected stream {stream} to end normally, got {}",
                        f.describe()
                    )));
                }
                Event::Frame(_) => {}
                Event::Closed => {
                    return Err(self.fail(format!(
                        "expected stream {stream} to end, got connection close"
                    )));
                }
                Event::Timeout => {
                    return Err(self.fail(format!(
                        "expected stream {stream} to end, got nothing (timeout)"
                    )));
                }
            }
        }
    }

    /// The next DATA frame on `stream`; returns it. A response that ends without any DATA
    /// skips the case (a socket target whose body is empty cannot show flow control; h2spec
    /// skips these cases the same way).
    pub fn expect_data(&mut self, stream: u32) -> Result<Frame, CaseError> {
        loop {
            match self.next_event() {
                Event::Frame(f) if f.ty == DATA && f.stream == stream => return Ok(f),
                Event::Frame(f) if f.ty == HEADERS && f.ends(stream) && !self.in_process => {
                    return Err(CaseError::Skip(format!(
                        "the response on stream {stream} has no body"
                    )));
                }
                Event::Frame(f)
                    if (f.ty == RST_STREAM && f.stream == stream)
                        || f.ty == GOAWAY
                        || f.ends(stream) =>
                {
                    return Err(self.fail(format!(
                        "expected DATA on stream {stream}, got {}",
                        f.describe()
                    )));
                }
                Event::Frame(_) => {}
                Event::Closed => {
                    return Err(self.fail(format!(
                        "expected DATA on stream {stream}, got connection close"
                    )));
                }
                Event::Timeout => {
                    return Err(self.fail(format!(
                        "expected DATA on stream {stream}, got nothing (timeout)"
                    )));
                }
            }
        }
    }

    /// The next DATA frame on `stream` carries exactly `len` octets (flow-control cases).
    pub fn expect_data_len(&mut self, stream: u32, len: usize) -> R {
        let f = self.expect_data(stream)?;
        if f.payload.len() != len {
            return Err(self.fail(format!(
                "expected DATA(stream={stream}, len={len}) (the flow-control window allows {len}), got {}",
                f.describe()
            )));
        }
        Ok(())
    }

    /// Reads DATA on `stream` until `total` octets arrived (fails if more arrive in one frame).
    pub fn expect_data_total(&mut self, stream: u32, total: usize) -> R {
        let mut got = 0;
        while got < total {
            let f = self.expect_data(stream)?;
            got += f.payload.len();
        }
        if got > total {
            return Err(self.fail(format!(
                "server sent {got} octets of DATA on stream {stream}; its window allowed {total}"
            )));
        }
        Ok(())
    }

    /// Nothing but the listed frames for one read timeout (in-process: nothing pending).
    pub fn expect_no_data(&mut self, stream: u32) -> R {
        loop {
            match self.next_event() {
                Event::Frame(f) if f.ty == DATA && f.stream == stream && !f.payload.is_empty() => {
                    return Err(self.fail(format!(
                        "expected no DATA on stream {stream}, got {}",
                        f.describe()
                    )));
                }
                Event::Frame(_) => {}
                Event::Closed | Event::Timeout => return Ok(()),
            }
        }
    }
}
