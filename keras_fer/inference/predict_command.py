"""Faces and expressions in image and video files: `keras-fer predict`."""

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_fer.files import atomic_write
from keras_fer.inference.explain import explanation_image
from keras_fer.inference.media import MediaError, collect_files, common_folder, is_video, read_image, read_video
from keras_fer.inference.recognizer import face_record

DEFAULT_FPS = 25.0


def predict_files(recognizer, paths, every=10, annotate=None, explain=None, progress=None):
    """Classifies the faces in images, folders of them (recursively) and videos.

    Faces of several images are classified in one batch; a video is read
    frame by frame and every `every`-th frame is classified. A file that
    cannot be read is reported and the others are still processed.

    Args:
        recognizer: a `keras_fer.Recognizer`.
        paths: files and folders.
        every: classify every `every`-th video frame.
        annotate: optional folder for copies with boxes and labels drawn
            (a video `clip.avi` as `clip.avi.mp4`, every frame labelled with
            the latest classified one). Copies keep the inputs' folders
            below the deepest one holding them all
            (`keras_fer.inference.media.collect_files`): one folder's files
            go into `annotate` itself, folders `d1` and `d2` into
            `annotate/d1` and `annotate/d2`, so no output replaces another.
        explain: optional folder for a heatmap strip per face of each image,
            in the same folders (`a.jpg`'s first face as `a.jpg_face1.png`).
        progress: a `Progress`, or `None` for none.

    Returns:
        `(records, problems)`: one record per image and per classified frame,
        `{"file", "frame", "seconds", "faces"}` in file order, with `faces`
        as `Recognizer.analyze` returns them; `problems` lists
        `(path, message)` for what could not be read.

    Example:

    ```python
    from keras_fer import Recognizer
    records, problems = predict_files(Recognizer(), ["photos/", "clip.mp4"], every=5, annotate="annotated/")
    ```
    """
    files, problems, root = [], [], common_folder(paths)
    for path in paths:
        found = collect_files([path], root)
        files.extend(found)
        if not found and Path(path).is_dir():
            problems.append((Path(path), "folder without files"))
    progress = progress or Progress(0, enabled=False)
    progress.total = len(files)
    images = _ImageBatch(recognizer, annotate, explain)
    records = []
    for index, (path, name) in enumerate(files):
        progress.update(index, str(path))
        try:
            if is_video(path):
                records.extend(images.flush())
                records.extend(_video(recognizer, path, name, every, annotate, progress, index))
            else:
                records.extend(images.add(path, name, read_image(path)))
        except MediaError as error:
            problems.append((path, str(error)))
    records.extend(images.flush())
    progress.update(len(files), "done")
    progress.close()
    return records, problems


class _ImageBatch:
    """Images waiting until their faces fill a batch."""

    def __init__(self, recognizer, annotate, explain):
        self.recognizer = recognizer
        self.annotate = annotate
        self.explain = explain
        self.pending = []

    def add(self, path, name, rgb):
        found = self.recognizer.detect(rgb)
        self.pending.append((path, name, rgb, found))
        waiting = sum(len(found) for *_, found in self.pending)
        return self.flush() if waiting >= self.recognizer.batch_size else []

    def flush(self):
        crops = [self.recognizer.face_crop(rgb, face) for _, _, rgb, found in self.pending for face in found]
        probabilities = iter(self.recognizer.predict_faces(crops) if crops else [])
        records = []
        for path, name, rgb, found in self.pending:
            faces = [face_record(face, next(probabilities), self.recognizer.class_names) for face in found]
            records.append({"file": str(path), "frame": None, "seconds": None, "faces": faces})
            if self.annotate:
                target = Path(self.annotate) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                draw_faces(rgb, faces).save(target)
            if self.explain and faces:
                _write_explanations(self.recognizer, rgb, found, Path(self.explain) / name)
        self.pending = []
        return records


def _video(recognizer, path, name, every, annotate, progress, index):
    import cv2

    records, faces, writer = [], [], None
    target = Path(annotate) / f"{name}.mp4" if annotate else None
    try:
        for frame in read_video(path, every):
            if frame.sampled:
                faces = recognizer.analyze(frame.rgb)
                records.append({"file": str(path), "frame": frame.index, "seconds": frame.seconds, "faces": faces})
                progress.update(index, f"{path} frame {frame.index}")
            if target is not None:
                if writer is None:
                    writer = _video_writer(target, frame)
                writer.write(cv2.cvtColor(np.asarray(draw_faces(frame.rgb, faces)), cv2.COLOR_RGB2BGR))
    finally:
        if writer is not None:
            writer.release()
    return records


def predict_camera(recognizer, camera, every=1, annotate=None, smoothing=0.5, stream=None):
    """Classifies the faces of a live camera until it stops or Ctrl-C, one line printed per processed frame.

    Faces keep a `track` number while their box overlaps from frame to frame
    and their scores are smoothed along it (`Recognizer.stream`). With
    `annotate`, the processed frames, boxes and labels drawn, go to
    `annotate/camera<index>.mp4`. Ctrl-C ends the stream cleanly: the video
    is closed and the records so far are returned.

    Returns:
        The records, one per processed frame, as `predict_files` gives them.
    """
    import cv2

    records, writer = [], None
    name = f"camera {camera}"
    target = Path(annotate) / f"camera{camera}.mp4" if annotate else None
    try:
        for result in recognizer.stream(camera, every=every, batch_frames=1, smoothing=smoothing, keep_frames=target is not None):
            records.append({"file": name, "frame": result["frame_index"], "seconds": result["time"], "faces": result["faces"]})
            labels = ", ".join(f"{face['track']}: {face['label']}" for face in result["faces"]) or "no face"
            print(f"{name} frame {result['frame_index']} ({result['time']:.1f} s): {labels}", flush=True)
            if target is not None:
                rgb = result["frame"]
                if writer is None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), DEFAULT_FPS / every, (rgb.shape[1], rgb.shape[0]))
                writer.write(cv2.cvtColor(np.asarray(draw_faces(rgb, result["faces"])), cv2.COLOR_RGB2BGR))
    except KeyboardInterrupt:
        print(f"{name}: stopped after {len(records)} frames", flush=True)
    finally:
        if writer is not None:
            writer.release()
    return records


def _video_writer(target, frame):
    """An mp4 writer at the video's frame rate (25 fps when the file does not say)."""
    import cv2

    target.parent.mkdir(parents=True, exist_ok=True)
    size = (frame.rgb.shape[1], frame.rgb.shape[0])
    return cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), frame.fps or DEFAULT_FPS, size)


def _write_explanations(recognizer, rgb, boxes, target):
    """One strip per face, `<target>_face<n>.png`: the image's suffix kept, so `a.png` and `a.jpg` write different files."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for number, face in enumerate(recognizer.explain(rgb, boxes), start=1):
        explanation_image(face).save(target.parent / f"{target.name}_face{number}.png")


def draw_faces(rgb, faces):
    """A PIL copy of `rgb` with each face's box and `label probability` drawn."""
    picture = Image.fromarray(rgb).convert("RGB")
    draw = ImageDraw.Draw(picture)
    line = max(1, round(max(picture.size) / 300))
    font = ImageFont.load_default(size=max(10, round(max(picture.size) / 40)))
    for face in faces:
        x, y, width, height = face["box"]
        draw.rectangle((x, y, x + width, y + height), outline=(255, 200, 0), width=line)
        text = f"{face['label']} {face['scores'][face['label']]:.2f}"
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        top_edge = max(y - (bottom - top) - 4, 0)
        draw.rectangle((x, top_edge, x + right - left + 4, top_edge + bottom - top + 4), fill=(255, 200, 0))
        draw.text((x + 2, top_edge + 2 - (top - y)), text, fill=(0, 0, 0), font=font)
    return picture


def format_table(records):
    """The records as an aligned text table, one row per face (`-` for none)."""
    rows = [("file", "frame", "face", "box (x, y, w, h)", "label", "probability")]
    for record in records:
        frame = "" if record["frame"] is None else str(record["frame"])
        for number, face in enumerate(record["faces"], start=1):
            box = ", ".join(str(v) for v in face["box"])
            rows.append((printable(record["file"]), frame, str(number), box, face["label"], f"{face['scores'][face['label']]:.3f}"))
        if not record["faces"]:
            rows.append((printable(record["file"]), frame, "-", "-", "no face", "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def write_json(records, path):
    """The records as a JSON list, written whole or not at all (file names as `printable` gives them)."""
    text = json.dumps([{**record, "file": printable(record["file"])} for record in records], indent=1) + "\n"
    with atomic_write(path, encoding="utf-8") as file:
        file.write(text)


def write_csv(records, path, class_names):
    """One UTF-8 CSV row per face (a row with empty face fields for images without one), written whole or not at all."""
    header = ["file", "frame", "seconds", "face", "x", "y", "width", "height", "label", *class_names]
    with atomic_write(path, newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for record in records:
            start = [printable(record["file"]), record["frame"], record["seconds"]]
            for number, face in enumerate(record["faces"], start=1):
                writer.writerow([*start, number, *face["box"], face["label"], *(face["scores"][n] for n in class_names)])
            if not record["faces"]:
                writer.writerow(start + [""] * (len(header) - len(start)))


def printable(name):
    """A file name as UTF-8 text: bytes that are not UTF-8 (which Python holds as surrogates) written as `\\xNN`.

    Example:

    >>> printable(os.fsdecode(b"caf\\xe9.png"))
    'caf\\\\xe9.png'
    """
    name = str(name)
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # surrogates that do not stand for bytes
        raw = name.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


class Progress:
    """A `tqdm` progress bar of files on a terminal (`stderr`); silent elsewhere unless `enabled`."""

    def __init__(self, total, stream=None, enabled=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = total
        self.bar = None

    def update(self, done, text=""):
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, file=self.stream, unit="file", dynamic_ncols=True)
        text = printable(text)
        self.bar.set_description_str(text if len(text) <= 40 else "..." + text[-37:], refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
