"""Films: same size, rate, frames and sound out; smooth over time, fresh at cuts; bad files refused cleanly."""

from fractions import Fraction

import numpy as np
import pytest

av = pytest.importorskip("av")

from huenet import color, video  # noqa: E402
from huenet.inference import Colorizer, Decoding  # noqa: E402
from huenet.video import TemporalSmoother, VideoError, colorize_video, is_cut, iter_frames  # noqa: E402
from tests.conftest import make_color_model  # noqa: E402


@pytest.fixture(scope="module")
def colorizer():
    import keras

    keras.utils.set_random_seed(0)
    model = make_color_model("unet-classification", bin_prior=None)
    last = model.network.layers[-1]  # sharpen the untrained head so that its colors vary with the picture
    last.set_weights([weight * 40 for weight in last.get_weights()])
    return Colorizer(model, Decoding(), threads=1)


def _gray_frames(count, height=48, width=64, seed=0):
    """A smooth random scene panning one pixel a frame (smooth, as film is: H.264 keeps it well)."""
    from PIL import Image

    coarse = np.random.default_rng(seed).integers(
        40, 220, (max(2, height // 8), max(2, (width + count) // 8)), dtype=np.uint8
    )
    base = np.asarray(Image.fromarray(coarse).resize((width + count, height), Image.Resampling.BICUBIC))
    return [np.ascontiguousarray(base[:, k : k + width]) for k in range(count)]


def _write(path, frames, rate=24, audio=False, codec="libx264", pix_fmt="yuv420p", container_format=None):
    with av.open(str(path), "w", format=container_format) as output:
        stream = output.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        sound = output.add_stream("aac", rate=44100) if audio else None
        for frame in frames:
            output.mux(
                stream.encode(av.VideoFrame.from_ndarray(np.repeat(frame[..., None], 3, axis=-1), format="rgb24"))
            )
        output.mux(stream.encode())
        if sound is not None:
            for k in range(20):
                samples = (0.1 * np.sin(np.arange(1024) * 0.05 + k)).astype(np.float32)[None]
                chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 44100, k * 1024
                output.mux(sound.encode(chunk))
            output.mux(sound.encode())
    return path


def _streams(path):
    with av.open(str(path)) as container:
        return (
            [(s.type, s.codec_context.name) for s in container.streams],
            container.duration,
            [(s.average_rate, s.frames) for s in container.streams.video],
        )


def test_a_film_keeps_its_size_rate_frames_duration_and_sound(tmp_path, colorizer):
    source = _write(tmp_path / "film.mp4", _gray_frames(30), rate=25, audio=True)
    target = tmp_path / "film-color.mp4"
    report = colorize_video(source, target, colorizer)
    assert report.frames == 30 and report.copied_streams == 1
    streams, duration, rates = _streams(target)
    original_streams, original_duration, original_rates = _streams(source)
    assert streams == [("video", "h264"), ("audio", "aac")] == original_streams
    assert rates == original_rates and rates[0][0] == Fraction(25) and duration == original_duration
    frames = list(iter_frames(target))
    assert len(frames) == 30 and frames[0].shape == (48, 64, 3)
    # The luma is the input's (up to the two H.264 encodings) and colors were added.
    gray_in = np.stack(list(iter_frames(source, "gray"))).astype(float)
    gray_out = np.stack(list(iter_frames(target, "gray"))).astype(float)
    assert np.abs(gray_out - gray_in).mean() < 2.0
    assert np.abs(np.stack(frames).astype(float) - gray_out[..., None]).max() > 5
    assert [p.name for p in tmp_path.iterdir()] and not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_odd_sizes_and_non_420_input_keep_their_exact_size(tmp_path, colorizer):
    source = _write(tmp_path / "odd.mkv", _gray_frames(6, height=35, width=47), pix_fmt="yuv444p")
    target = colorize_video(source, tmp_path / "odd-color.mkv", colorizer)
    assert target.frames == 6 and {f.shape for f in iter_frames(tmp_path / "odd-color.mkv")} == {(35, 47, 3)}


def _lightness_to_red_model():
    """A stand-in network whose color follows the local lightness (bright: red, dark: green),
    so that grain and exposure flicker become color flicker, as with a real network."""
    from huenet import color
    from huenet.modelfile import ColorModel

    bins = color.ab_bins()
    template = make_color_model("unet-classification", bin_prior=None)

    def runner(batch):
        lightness = batch[..., 0]
        count, height, width = lightness.shape
        pooled = (
            lightness[:, : height // 2 * 2, : width // 2 * 2].reshape(count, height // 2, 2, width // 2, 2).mean((2, 4))
        )
        target_a = 60.0 * pooled[..., None]  # (n, h/2, w/2, 1)
        return -((bins[:, 0] - target_a) ** 2 + bins[:, 1] ** 2) / (2 * 8.0**2)

    return ColorModel(None, template.metadata, source="<lightness to red>", runner=runner)


def test_films_run_at_the_models_film_working_size_unless_one_is_asked_for(tmp_path):
    """A model may run films smaller than stills, to keep up with the frame rate."""
    from huenet.modelfile import ColorModel

    template = _lightness_to_red_model()
    seen = []

    def recording(batch):
        seen.append(max(batch.shape[1:3]))
        return template.runner(batch)

    settings = {**template.settings, "working_size": 64, "film_working_size": 32}
    model = ColorModel(None, {**template.metadata, "settings": settings}, source="<films at 32>", runner=recording)
    source = _write(tmp_path / "film.mp4", _gray_frames(3, height=96, width=128))
    colorize_video(source, tmp_path / "default.mp4", model, threads=1)
    films, seen[:] = list(seen), []
    colorize_video(source, tmp_path / "through-a-colorizer.mp4", Colorizer(model, threads=1))  # as the CLI does
    through, seen[:] = list(seen), []
    colorize_video(source, tmp_path / "asked.mp4", Colorizer(model, working_size=64, threads=1))
    asked, seen[:] = list(seen), []
    Colorizer(model, threads=1).colorize_many([_gray_frames(1, height=96, width=128)[0]])
    assert set(films) == {32} and set(through) == {32} and set(asked) == {64} and set(seen) == {64}


def test_smoothing_removes_most_of_the_flicker_that_grain_and_exposure_make(tmp_path):
    colorizer = Colorizer(_lightness_to_red_model(), Decoding(), threads=1)
    rng = np.random.default_rng(3)
    still = _gray_frames(1, seed=4)[0].astype(float)
    noisy = [
        np.clip(still * rng.uniform(0.95, 1.05) + rng.normal(0, 4, still.shape), 0, 255).astype(np.uint8)
        for _ in range(16)
    ]
    source = _write(tmp_path / "grain.mp4", noisy)
    flicker = {}
    for smoothing in (0.0, 0.8):
        target = tmp_path / f"out-{smoothing}.mp4"
        # The network on every 3rd frame: unsmoothed, each run's grain shows as flicker (on
        # every 4th, the default, 16 frames hold only 4 runs).
        colorize_video(source, target, colorizer, smoothing=smoothing, network_every=3)
        frames = [color.rgb_to_lab(f)[..., 1:] for f in iter_frames(target)]
        flicker[smoothing] = np.mean([np.abs(a - b).mean() for a, b in zip(frames[1:], frames[:-1])])
    assert flicker[0.0] > 0.5 and flicker[0.8] < 0.8 * flicker[0.0]  # what is left is the output's encoding noise
    # At the working resolution, where the smoothing acts, most of the flicker is gone.
    from huenet.images import InputImage

    for smoothing in (0.0, 0.8):
        smoother = TemporalSmoother(smoothing)
        ab = [video._frame_ab(colorizer, smoother, InputImage(frame, None, []), None)[0] for frame in noisy]
        flicker[smoothing] = np.mean([np.abs(a - b).mean() for a, b in zip(ab[1:], ab[:-1])])
    assert flicker[0.8] < 0.4 * flicker[0.0]


def _textured(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random picture (blobs at a few scales), float 0..255."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    picture = np.zeros((height, width))
    for cells in (4, 9, 23):
        coarse = rng.uniform(0, 1, (cells, cells)).astype(np.float32)
        picture += np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.Resampling.BICUBIC))
    return 255 * (picture - picture.min()) / (picture.max() - picture.min())


@pytest.mark.parametrize("rows, columns", [(0.0, 2.0), (-1.5, 0.5), (3.0, -4.0)])
def test_the_motion_of_a_pan_is_measured_to_a_fraction_of_a_pixel(rows, columns):
    from PIL import Image

    wide = _textured(140, 180, seed=1).astype(np.float32)
    image = Image.fromarray(wide, mode="F")
    # The window moves by (-rows, -columns): the picture in it moves by (rows, columns).
    first = np.asarray(image.crop((20, 20, 140, 110)))
    second = np.asarray(
        image.transform(
            (120, 90), Image.Transform.AFFINE, (1, 0, 20 - columns, 0, 1, 20 - rows), Image.Resampling.BICUBIC
        )
    )
    grain = np.random.default_rng(2).normal(0, 4, second.shape)
    moved = video.global_shift(first, second * 1.03 + grain)  # grain and an exposure change
    assert moved is not None and np.allclose(moved, (rows, columns), atol=0.2)
    assert video.global_shift(first, np.random.default_rng(5).uniform(0, 255, first.shape)) is None  # no motion found


def test_a_smoother_measures_a_pan_on_frames_of_any_size():
    from PIL import Image

    from huenet.images import InputImage

    fine = (
        np.random.default_rng(3).uniform(0, 255, (75, 105)).astype(np.float32)
    )  # detail a few pixels across, as photos have
    fine = np.asarray(Image.fromarray(fine, mode="F").resize((420, 300), Image.Resampling.BICUBIC))
    wide = Image.fromarray(0.5 * _textured(300, 420, seed=3).astype(np.float32) + 0.5 * fine, mode="F")
    # 330 columns: shrunk to 160 by a non-integer factor; the picture moves by (1, -3) a frame.
    frames = [
        np.asarray(
            wide.transform(
                (330, 250), Image.Transform.AFFINE, (1, 0, 40 + 3 * k, 0, 1, 20 - k), Image.Resampling.BICUBIC
            )
        )
        .clip(0, 255)
        .astype(np.uint8)
        for k in range(3)
    ]
    smoother = TemporalSmoother(0.8)
    smoother.track(InputImage(frames[0], None, []))
    assert np.array_equal(smoother.step, (0, 0))  # nothing to compare with yet
    smoother.track(InputImage(frames[1], None, []))
    assert np.allclose(smoother.step, (1, -3), atol=0.3)
    smoother.track(InputImage(frames[2], None, []))
    assert np.allclose(smoother.step, (1, -3), atol=0.3) and np.allclose(smoother.shift, (2, -6), atol=0.5)


def test_chroma_planes_keep_some_of_the_last_frames_where_the_gray_stayed():
    smoother = TemporalSmoother(0.8)
    smoother.plane_smoothing = 0.5
    gray = np.full((6, 8), 100.0, np.float32)
    first = [np.full((6, 8), 120.0, np.float32), np.full((6, 8), 140.0, np.float32)]
    second = [np.full((6, 8), 100.0, np.float32), np.full((6, 8), 160.0, np.float32)]
    assert smoother.smooth_planes(first, gray, restart=False) is first  # nothing to average with yet
    changed = gray.copy()
    changed[:, 4:6], changed[:, 6:] = (
        180.0,
        20.0,
    )  # the right half changed (the mean did not): the new planes stand alone
    cb, cr = smoother.smooth_planes(second, changed, restart=False)
    assert np.allclose(cb[:, :4], 110.0) and np.allclose(cr[:, :4], 150.0)
    assert np.allclose(cb[:, 4:], 100.0) and np.allclose(cr[:, 4:], 160.0)
    assert smoother.smooth_planes(first, changed, restart=True) is first  # a cut: nothing of the past
    smoother.plane_smoothing = 0.0
    assert smoother.smooth_planes(second, changed, restart=False) is second


def test_shifting_a_grid_moves_its_values_and_repeats_its_edges():
    values = np.arange(12, dtype=np.float32).reshape(3, 4, 1) * np.ones((1, 1, 2), np.float32)
    moved = video.shift_grid(values, 0.0, 1.0)
    assert moved.shape == values.shape and moved.dtype == values.dtype
    assert np.allclose(moved[:, 1:], values[:, :-1]) and np.allclose(moved[:, 0], values[:, 0])
    assert np.allclose(video.shift_grid(values, 0.5, 0.0)[1], (values[0] + values[1]) / 2)
    assert video.shift_grid(values, 0.0, 0.0) is values


def test_held_colors_follow_a_pan_between_network_runs():
    """The network runs on every 3rd frame; between, the last colors move with the picture,
    so a pixel keeps the color of the thing under it: far less change at corresponding
    pixels than with the colors held still."""
    from huenet.images import InputImage

    colorizer = Colorizer(_lightness_to_red_model(), Decoding(), threads=1)
    wide = _textured(96, 200, seed=7)
    frames = [
        wide[:, 24 - 4 * k : 24 - 4 * k + 128].astype(np.uint8) for k in range(6)
    ]  # the picture moves right 4 px a frame
    change = {}
    for track in (True, False):
        smoother = TemporalSmoother(0.8, every=3)
        if not track:
            smoother.track = lambda gray: None
        ab = [
            np.asarray(
                colorizer.compose(
                    InputImage(f, None, []), *video._frame_ab(colorizer, smoother, InputImage(f, None, []), None)
                )
            )
            for f in frames
        ]
        lab = [color.rgb_to_lab(a)[..., 1:] for a in ab]
        # Corresponding pixels: column c of frame k + 1 shows what column c - 4 of frame k did.
        change[track] = np.mean([np.abs(b[:, 20:-20] - a[:, 16:-24]).mean() for a, b in zip(lab[:-1], lab[1:])])
    assert change[True] < 0.5 * change[False]


def test_no_color_is_carried_across_a_cut():
    rng = np.random.default_rng(0)
    first, second = rng.uniform(0, 100, (24, 32)), rng.uniform(0, 100, (24, 32))
    assert not is_cut(first, first * 1.04 + rng.normal(0, 1.5, first.shape))  # exposure flicker and grain
    assert is_cut(first, second)
    smoother = TemporalSmoother(0.8)
    logits_a, logits_b = np.zeros((12, 16, 5), np.float32), np.ones((12, 16, 5), np.float32)
    smoother.update(logits_a, first)
    smoothed, cut = smoother.update(logits_b, first)
    assert not cut and np.allclose(smoothed, 0.2)  # the past weighs 0.8 where the picture stayed
    smoothed, cut = smoother.update(logits_b * 7, second)
    assert cut and np.allclose(smoothed, 7) and smoother.cuts == 1  # restarted: nothing of the past
    with pytest.raises(ValueError, match="smoothing"):
        TemporalSmoother(1.0)


def _assert_refused(tmp_path, source, message, colorizer, **options):
    target = tmp_path / "out.mp4"
    before = set(tmp_path.iterdir())
    with pytest.raises(VideoError, match=message):
        colorize_video(source, target, colorizer, **options)
    assert set(tmp_path.iterdir()) == before  # nothing under the output name, no partial file


def test_bad_films_are_refused_with_a_reason_and_leave_nothing(tmp_path, colorizer):
    good = _write(tmp_path / "good.mp4", _gray_frames(12))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    _assert_refused(tmp_path, truncated, "video", colorizer)
    text = tmp_path / "text.mp4"
    text.write_text("not a film")
    _assert_refused(tmp_path, text, "not a readable video", colorizer)
    sound = tmp_path / "sound.mp4"
    with av.open(str(sound), "w") as output:
        stream = output.add_stream("aac", rate=44100)
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = 44100, 0
        output.mux(stream.encode(chunk))
        output.mux(stream.encode())
    _assert_refused(tmp_path, sound, "no video stream", colorizer)
    huge = tmp_path / "huge.y4m"  # a header that claims 60,000 x 60,000 pixels, and one line of data
    huge.write_bytes(b"YUV4MPEG2 W60000 H60000 F24:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(60000))
    _assert_refused(
        tmp_path, huge, "over the .*-pixel limit|not a readable video", colorizer
    )  # FFmpeg may refuse it first
    _assert_refused(tmp_path, good, "over the 100-pixel limit", colorizer, max_pixels=100)
    empty = tmp_path / "empty.mp4"
    with av.open(str(empty), "w") as output:
        stream = output.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    _assert_refused(tmp_path, empty, "no frames|not a readable video|no frame size", colorizer)


def test_a_frame_size_change_mid_stream_is_refused(tmp_path, colorizer):
    parts = [
        _write(tmp_path / "a.h264", _gray_frames(4, 48, 64), container_format="h264"),
        _write(tmp_path / "b.h264", _gray_frames(4, 48, 80), container_format="h264"),
    ]
    joined = tmp_path / "joined.h264"
    joined.write_bytes(parts[0].read_bytes() + parts[1].read_bytes())
    _assert_refused(tmp_path, joined, "frame size changes mid-stream", colorizer)


def test_the_cli_colorizes_folders_of_films_and_photos_and_skips_existing(tmp_path, capsys, monkeypatch):
    from PIL import Image

    from huenet.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "reel.mp4", _gray_frames(5))
    Image.fromarray(_gray_frames(1)[0]).save(folder / "still.png")
    assert main(["colorize", str(folder), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["reel.mp4", "still.png"]
    assert len(list(iter_frames(tmp_path / "out" / "reel.mp4"))) == 5
    assert main(["colorize", str(folder), "-o", str(tmp_path / "out"), "--skip-existing"]) == 0
    assert "nothing to do" in capsys.readouterr().err

    def missing():
        raise video.VideoMissing(
            f"video needs PyAV, which a plain install leaves out; install it with: {video.VIDEO_EXTRA_HINT}"
        )

    monkeypatch.setattr(video, "require_av", missing)
    assert main(["colorize", str(folder / "reel.mp4"), "-o", str(tmp_path / "again.mp4")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert any("pip install 'huenet[video]'" in line and "reel.mp4" in line for line in lines)
    assert not (tmp_path / "again.mp4").exists()
