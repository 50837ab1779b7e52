# Rollcall production image: the `rollcall` binary, ONNX Runtime from the pinned PyPI wheel,
# and nothing else. Models are mounted at /models (or fetched with `rollcall models fetch`).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The same pinned, sha256-checked wheel as development and CI.
RUN ROLLCALL_CACHE_DIR=/opt/cache scripts/fetch-onnxruntime.sh \
    && mkdir -p /opt/onnxruntime && cp "$(ROLLCALL_CACHE_DIR=/opt/cache scripts/fetch-onnxruntime.sh | tail -n 1)" /opt/onnxruntime/libonnxruntime.so
RUN cargo build --release -p rollcall && cp target/release/rollcall /usr/local/bin/rollcall

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/rollcall rollcall \
    && mkdir -p /var/lib/rollcall /models && chown rollcall /var/lib/rollcall
COPY --from=build /usr/local/bin/rollcall /usr/local/bin/rollcall
COPY --from=build /opt/onnxruntime/libonnxruntime.so /opt/onnxruntime/libonnxruntime.so
ENV ORT_DYLIB_PATH=/opt/onnxruntime/libonnxruntime.so \
    ROLLCALL_BIND=0.0.0.0:8000 \
    ROLLCALL_DATA_DIR=/var/lib/rollcall \
    ROLLCALL_MODEL_DIR=/models \
    ROLLCALL_LOG_FORMAT=json
USER rollcall
EXPOSE 8000
ENTRYPOINT ["rollcall"]
CMD ["serve"]
