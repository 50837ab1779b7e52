#!/usr/bin/env python3
"""Time the original product's face pipeline (Python insightface) on the same model files as Rollcall.

The original service used ``insightface.app.FaceAnalysis`` with ``det_size=(320, 256)``: SCRFD
detection on a letterboxed copy of the photo, then for every face a 5-point similarity alignment
to the ArcFace template (``face_align.norm_crop``) and an embedding. This script builds exactly
that pipeline from ``insightface.model_zoo`` classes (``SCRFD`` and ``ArcFaceONNX``, the classes
``FaceAnalysis`` itself instantiates, running the same ``detect``/``norm_crop``/``get_feat``
code) but with Rollcall's model files, so that the numbers compare like with like:

* detector   ``$ROLLCALL_MODEL_DIR/scrfd/det_2.5g.onnx`` (InsightFace buffalo_m's SCRFD-2.5GF)
* recognizer ``$ROLLCALL_MODEL_DIR/faceplugin/fr_feature.onnx`` with its own normalisation
  ``(x - 127) / 128`` (FaceAnalysis would guess 127.5 / 127.5 for it)

Sessions use onnxruntime's default graph optimisation level (``all``), as FaceAnalysis did.
``--opt-level basic`` (or ``extended``) shows the same stack without the layout optimisations:
on a 2-core AVX-512 Xeon with onnxruntime 1.31.1, fr_feature (Conv + PReLU) ran 2.5-3x slower at
``all`` than at ``basic``/``extended``, while SCRFD ran faster at ``all`` (busy machine: treat
as indicative, rerun on a quiet one).

``FaceAnalysis`` itself cannot be used unchanged: it loads every ``*.onnx`` of a model pack by
name and creates its ONNX Runtime sessions without SessionOptions, so the thread count could not
be controlled. The per-face loop below is ``FaceAnalysis.get`` line for line.

For each image, each det_size ((320, 256) and (640, 640) by default) and each thread count (1
and 2 by default) it reports the median over ``--runs`` timed runs (after ``--warmup`` runs) of:
decode (cv2.imread), detect (resize + letterbox + ONNX + decode + NMS; the ONNX part also
shown alone), align (norm_crop, all faces), embed (get_feat, all faces; ONNX part
also shown alone), and end to end
(decode + detect + align + embed), plus the number of faces detected. Output: a markdown table.

Usage:
    scripts/original_stack_bench.sh [--images scene1.jpg scene2.jpg ...] [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import insightface
from insightface.app.common import Face
from insightface.model_zoo.arcface_onnx import ArcFaceONNX
from insightface.model_zoo.scrfd import SCRFD
from insightface.utils import face_align

REPO = Path(__file__).resolve().parent.parent
DETECTOR = "scrfd/det_2.5g.onnx"
RECOGNIZER = "faceplugin/fr_feature.onnx"
# fr_feature.onnx expects (x - 127) / 128 (see models/manifest.toml).
RECOGNIZER_MEAN = 127.0
RECOGNIZER_STD = 128.0


class TimedSession:
    """An onnxruntime session whose run() time is accumulated (to split ONNX time from the rest)."""

    def __init__(self, session: onnxruntime.InferenceSession):
        self._session = session
        self.seconds = 0.0

    def run(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self._session.run(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start

    def __getattr__(self, name):
        return getattr(self._session, name)


OPT_LEVELS = {
    "disable": onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def session(path: Path, threads: int, opt_level: str) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = OPT_LEVELS[opt_level]
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class OriginalPipeline:
    """FaceAnalysis(det + recognition) with explicit model files, det_size and thread count."""

    def __init__(self, model_dir: Path, det_size: tuple[int, int], threads: int, opt_level: str):
        det_path, rec_path = model_dir / DETECTOR, model_dir / RECOGNIZER
        self.det_session = TimedSession(session(det_path, threads, opt_level))
        self.rec_session = TimedSession(session(rec_path, threads, opt_level))
        self.detector = SCRFD(model_file=str(det_path), session=self.det_session)
        self.detector.prepare(-1, input_size=det_size, det_thresh=0.5)
        self.det_size = det_size
        self.recognizer = ArcFaceONNX(model_file=str(rec_path), session=self.rec_session)
        self.recognizer.prepare(-1)
        self.recognizer.input_mean = RECOGNIZER_MEAN
        self.recognizer.input_std = RECOGNIZER_STD

    def run(self, path: Path) -> dict:
        """One end-to-end pass; returns stage timings in milliseconds and the faces found."""
        self.det_session.seconds = 0.0
        self.rec_session.seconds = 0.0
        t0 = time.perf_counter()
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"cannot decode {path}")
        t1 = time.perf_counter()
        bboxes, kpss = self.detector.detect(img, input_size=self.det_size, max_num=0, metric="default")
        t2 = time.perf_counter()
        align_s = embed_s = 0.0
        faces = []
        # FaceAnalysis.get, with the recognizer's get() split into align and embed.
        for i in range(bboxes.shape[0]):
            face = Face(bbox=bboxes[i, 0:4], kps=None if kpss is None else kpss[i], det_score=bboxes[i, 4])
            a0 = time.perf_counter()
            aligned = face_align.norm_crop(img, landmark=face.kps, image_size=self.recognizer.input_size[0])
            a1 = time.perf_counter()
            face.embedding = self.recognizer.get_feat(aligned).flatten()
            a2 = time.perf_counter()
            align_s += a1 - a0
            embed_s += a2 - a1
            faces.append(face)
        t3 = time.perf_counter()
        return {
            "decode": (t1 - t0) * 1e3,
            "detect": (t2 - t1) * 1e3,
            "detect_onnx": self.det_session.seconds * 1e3,
            "align": align_s * 1e3,
            "embed": embed_s * 1e3,
            "embed_onnx": self.rec_session.seconds * 1e3,
            "total": (t3 - t0) * 1e3,
            "faces": len(faces),
            "image": (img.shape[1], img.shape[0]),
        }


def median_of(pipeline: OriginalPipeline, path: Path, runs: int, warmup: int) -> dict:
    for _ in range(warmup):
        pipeline.run(path)
    samples = [pipeline.run(path) for _ in range(runs)]
    counts = {sample["faces"] for sample in samples}
    if len(counts) != 1:
        raise SystemExit(f"face count changed between runs on {path}: {sorted(counts)}")
    result = {key: statistics.median(sample[key] for sample in samples)
              for key in ("decode", "detect", "detect_onnx", "align", "embed", "embed_onnx", "total")}
    result["faces"] = samples[0]["faces"]
    result["image"] = samples[0]["image"]
    return result


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, got {text!r}") from None
    if size[0] % 32 or size[1] % 32 or min(size) <= 0:
        raise argparse.ArgumentTypeError(f"{text}: both sides must be positive multiples of 32")
    return size


def main() -> int:
    model_default = os.environ.get("ROLLCALL_MODEL_DIR", str(REPO.parent / "shared" / "models"))
    faces_default = Path(os.environ.get("ROLLCALL_FACES_DIR", str(REPO.parent / "shared" / "faces")))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path(model_default),
                        help="directory with scrfd/det_2.5g.onnx and faceplugin/fr_feature.onnx "
                             "(default: $ROLLCALL_MODEL_DIR or <repo>/../shared/models)")
    parser.add_argument("--portrait", type=Path, default=faces_default / "identities" / "barack_obama" / "1.jpg",
                        help="a one-person photo (default: identities/barack_obama/1.jpg of $ROLLCALL_FACES_DIR)")
    parser.add_argument("--images", type=Path, nargs="*", default=None,
                        help="scene photos, e.g. the composed classrooms the Rust bench writes "
                             "(default: groups/friends_cast_steps.jpg of $ROLLCALL_FACES_DIR)")
    parser.add_argument("--det-size", type=parse_size, nargs="+", default=[(320, 256), (640, 640)],
                        help="detector input sizes WxH (default: 320x256 640x640)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="onnxruntime intra-op thread counts (default: 1 2)")
    parser.add_argument("--opt-level", choices=sorted(OPT_LEVELS), default="all",
                        help="onnxruntime graph optimisation level (default: all, onnxruntime's own "
                             "default and so what FaceAnalysis ran with)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per cell (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per cell first")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this path")
    args = parser.parse_args()

    for relative in (DETECTOR, RECOGNIZER):
        if not (args.model_dir / relative).is_file():
            print(f"error: {args.model_dir / relative} not found; set ROLLCALL_MODEL_DIR (or --model-dir) "
                  "to the shared model directory, or fetch the models with `rollcall models fetch "
                  "buffalo_m` and `rollcall models fetch faceplugin`", file=sys.stderr)
            return 2
    images = [args.portrait] + (args.images if args.images else [faces_default / "groups" / "friends_cast_steps.jpg"])
    for image in images:
        if not image.is_file():
            print(f"error: image {image} not found; set ROLLCALL_FACES_DIR or pass paths", file=sys.stderr)
            return 2
    if args.runs < 1 or args.warmup < 0:
        print("error: --runs must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2

    onnxruntime.set_default_logger_severity(3)
    cv2.setNumThreads(1)
    rows = []
    for det_size in args.det_size:
        for threads in args.threads:
            pipeline = OriginalPipeline(args.model_dir, det_size, threads, args.opt_level)
            for image in images:
                result = median_of(pipeline, image, args.runs, args.warmup)
                result.update(path=str(image), det_size=list(det_size), threads=threads)
                rows.append(result)
                print(f"  {image.name} det {det_size[0]}x{det_size[1]} threads {threads}: "
                      f"{result['faces']} faces, {result['total']:.1f} ms", file=sys.stderr)

    print(f"Original stack: insightface {insightface.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"opencv {cv2.__version__}, numpy {np.__version__}, Python {platform.python_version()}, "
          f"{platform.machine()} ({os.cpu_count()} CPUs). Models: {DETECTOR}, {RECOGNIZER} "
          f"(mean {RECOGNIZER_MEAN:g}, std {RECOGNIZER_STD:g}); graph optimisation {args.opt_level}. Median of {args.runs} runs after "
          f"{args.warmup} warm-up runs; times in ms; cv2 threads 1.")
    print()
    print("| image | size | det_size | threads | faces | decode | detect (onnx) | align | embed (onnx) "
          "| end to end | embed/face |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        per_face = row["embed"] / row["faces"] if row["faces"] else float("nan")
        print(f"| {Path(row['path']).name} | {row['image'][0]}x{row['image'][1]} "
              f"| {row['det_size'][0]}x{row['det_size'][1]} | {row['threads']} | {row['faces']} "
              f"| {row['decode']:.1f} | {row['detect']:.1f} ({row['detect_onnx']:.1f}) | {row['align']:.2f} "
              f"| {row['embed']:.1f} ({row['embed_onnx']:.1f}) | {row['total']:.1f} | {per_face:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
