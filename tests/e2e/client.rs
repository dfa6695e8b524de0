//! The client side of `grpc.testing.TestService`: what tonic-build's `TestServiceClient` would be,
//! written by hand over `tonic::client::Grpc` and `tonic_prost::ProstCodec`.

use tokio_stream::Stream;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

use crate::proto::{
    Empty, SimpleRequest, SimpleResponse, StreamingInputCallRequest, StreamingInputCallResponse,
    StreamingOutputCallRequest, StreamingOutputCallResponse,
};

#[derive(Clone)]
pub struct TestClient {
    grpc: tonic::client::Grpc<Channel>,
}

fn path(method: &str) -> PathAndQuery {
    PathAndQuery::try_from(format!("/grpc.testing.TestService/{method}"))
        .expect("a valid method path")
}

impl TestClient {
    pub fn new(channel: Channel) -> Self {
        TestClient {
            // Large enough for the interop suite's large messages with room to spare.
            grpc: tonic::client::Grpc::new(channel)
                .max_decoding_message_size(8 << 20)
                .max_encoding_message_size(8 << 20),
        }
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("channel not ready: {e}")))
    }

    pub async fn empty_call(&mut self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        self.ready().await?;
        self.grpc
            .unary(request, path("EmptyCall"), ProstCodec::default())
            .await
    }

    pub async fn unary_call(
        &mut self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        self.ready().await?;
        self.grpc
            .unary(request, path("UnaryCall"), ProstCodec::default())
            .await
    }

    /// A unary call to a method the backends do not have.
    pub async fn unimplemented_call(
        &mut self,
        request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        self.ready().await?;
        self.grpc
            .unary(request, path("UnimplementedCall"), ProstCodec::default())
            .await
    }

    pub async fn streaming_output_call(
        &mut self,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<Streaming<StreamingOutputCallResponse>>, Status> {
        self.ready().await?;
        self.grpc
            .server_streaming(request, path("StreamingOutputCall"), ProstCodec::default())
            .await
    }

    pub async fn streaming_input_call<S>(
        &mut self,
        request: Request<S>,
    ) -> Result<Response<StreamingInputCallResponse>, Status>
    where
        S: Stream<Item = StreamingInputCallRequest> + Send + 'static,
    {
        self.ready().await?;
        self.grpc
            .client_streaming(request, path("StreamingInputCall"), ProstCodec::default())
            .await
    }

    pub async fn full_duplex_call<S>(
        &mut self,
        request: Request<S>,
    ) -> Result<Response<Streaming<StreamingOutputCallResponse>>, Status>
    where
        S: Stream<Item = StreamingOutputCallRequest> + Send + 'static,
    {
        self.ready().await?;
        self.grpc
            .streaming(request, path("FullDuplexCall"), ProstCodec::default())
            .await
    }
}
