# imgscan in a small image. Build: docker build -t imgscan .
FROM rust:1-bookworm AS build
WORKDIR /src
# protoc: the containerd source's gRPC bindings are generated at build time.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends protobuf-compiler \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bin imgscan

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/imgscan /usr/local/bin/imgscan
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/imgscan"]
