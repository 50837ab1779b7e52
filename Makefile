# Rollcall developer entry points. The README's two commands are `make run` and `make test`.
SHARED            ?= $(abspath $(CURDIR)/../shared)
export ROLLCALL_MODEL_DIR ?= $(SHARED)/models
export ROLLCALL_FACES_DIR ?= $(SHARED)/faces
# Build output lives outside the clone so that repeated CI runs are incremental.
export CARGO_TARGET_DIR   ?= $(HOME)/.cache/rollcall/target
# ONNX Runtime's shared library, from the pinned PyPI wheel (see scripts/fetch-onnxruntime.sh).
ORT = export ORT_DYLIB_PATH="$$(scripts/fetch-onnxruntime.sh | tail -n 1)" &&

.PHONY: run test e2e lint fmt bench bench-compare bench-load fuzz onnxruntime services

## Run the service on its embedded defaults (SQLite, in-process store, mail to the log);
## the web app is at http://127.0.0.1:8000/
run:
	$(ORT) cargo run -p rollcall -- serve

## Run every test (starts PostgreSQL and Redis if they are down), then the proof runs:
## Schemathesis against the real binary and the fuzz targets (see README, "Proof"), and the
## browser suite (the web app in Chromium).
test: services
	$(ORT) cargo test --workspace --all-targets
	$(ORT) scripts/schemathesis.sh
	scripts/fuzz.sh
	$(ORT) scripts/e2e.sh

## The web app in Chromium (installs Chromium and the npm packages when missing).
e2e:
	$(ORT) scripts/e2e.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

## Face engine benchmark table (per stage, end to end, 1 and 2 threads).
bench:
	$(ORT) cargo run --release -p rollcall -- bench

## Load benchmark of GET /get_all_students on SQLite and PostgreSQL (wrk; a quiet machine).
bench-load: services
	$(ORT) scripts/bench-load.sh

## Build the fuzz targets (incrementally) and run each for FUZZ_SECONDS (default 45).
fuzz:
	scripts/fuzz.sh

## Rollcall and the original Python stack, interleaved on the same saved scenes (2 threads).
bench-compare:
	$(ORT) cargo run --release -p rollcall -- bench --compare-original --threads 2

onnxruntime:
	scripts/fetch-onnxruntime.sh

services:
	scripts/ensure-services.sh
