//! The messages of `grpc.testing.TestService` (grpc/src/proto/grpc/testing/messages.proto), written
//! by hand with prost's derive so the tests need no protoc. Only the fields the tests use; the tag
//! numbers are the interop suite's, so any gRPC implementation's interop client or server could
//! stand in for either end.
//!
//! One extension, outside the interop numbering: `StreamingOutputCallResponse.server_id` (tag 15)
//! names the backend that produced each streamed message, as `SimpleResponse.server_id` does for
//! unary calls.

/// `grpc.testing.Empty`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `grpc.testing.Payload` (`type` is always COMPRESSABLE, 0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub body: Vec<u8>,
}

/// `grpc.testing.EchoStatus`: the status the server must answer with.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `grpc.testing.SimpleRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SimpleRequest {
    #[prost(int32, tag = "1")]
    pub response_type: i32,
    #[prost(int32, tag = "2")]
    pub response_size: i32,
    #[prost(message, optional, tag = "3")]
    pub payload: Option<Payload>,
    #[prost(message, optional, tag = "7")]
    pub response_status: Option<EchoStatus>,
    #[prost(bool, tag = "9")]
    pub fill_server_id: bool,
}

/// `grpc.testing.SimpleResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SimpleResponse {
    #[prost(message, optional, tag = "1")]
    pub payload: Option<Payload>,
    #[prost(string, tag = "4")]
    pub server_id: String,
}

/// `grpc.testing.ResponseParameters`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResponseParameters {
    #[prost(int32, tag = "1")]
    pub size: i32,
    #[prost(int32, tag = "2")]
    pub interval_us: i32,
}

/// `grpc.testing.StreamingOutputCallRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamingOutputCallRequest {
    #[prost(int32, tag = "1")]
    pub response_type: i32,
    #[prost(message, repeated, tag = "2")]
    pub response_parameters: Vec<ResponseParameters>,
    #[prost(message, optional, tag = "3")]
    pub payload: Option<Payload>,
    #[prost(message, optional, tag = "7")]
    pub response_status: Option<EchoStatus>,
}

/// `grpc.testing.StreamingOutputCallResponse`, plus `server_id` (tag 15, a test extension).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamingOutputCallResponse {
    #[prost(message, optional, tag = "1")]
    pub payload: Option<Payload>,
    #[prost(string, tag = "15")]
    pub server_id: String,
}

/// `grpc.testing.StreamingInputCallRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamingInputCallRequest {
    #[prost(message, optional, tag = "1")]
    pub payload: Option<Payload>,
}

/// `grpc.testing.StreamingInputCallResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamingInputCallResponse {
    #[prost(int32, tag = "1")]
    pub aggregated_payload_size: i32,
}

/// A payload of `size` zero bytes, as the interop suite sends.
pub fn payload(size: usize) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![0; size],
    })
}

/// The body length of an optional payload.
pub fn body_len(payload: &Option<Payload>) -> usize {
    payload.as_ref().map_or(0, |p| p.body.len())
}
