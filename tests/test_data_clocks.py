"""Clock renderer: labels recoverable from the rendered hand angles; determinism; cache."""

import numpy as np

from sweeplab.data import clocks, load_raw


def _darkness_profile(img, cx, cy, radii, angles):
    """Mean darkness along arcs: angles clockwise from up (image rows grow downwards)."""
    a = angles[:, None]
    xs = cx + radii[None, :] * np.sin(a)
    ys = cy - radii[None, :] * np.cos(a)
    xi = np.clip(np.rint(xs).astype(int), 0, img.shape[1] - 1)
    yi = np.clip(np.rint(ys).astype(int), 0, img.shape[0] - 1)
    return (255.0 - img[yi, xi].astype(float)).mean(1)


def _peak(profile, angles):
    i = int(np.argmax(profile))
    w = np.abs(((angles - angles[i] + np.pi) % (2 * np.pi)) - np.pi) < np.deg2rad(5)
    c = profile[w] - profile[w].min()
    return float(np.angle(np.sum(c * np.exp(1j * angles[w])))) % (2 * np.pi), profile[i]


def test_labels_recoverable_from_hand_angles():
    size, n = 128, 40
    rng = np.random.default_rng(11)
    p = clocks.draw_params(n, size, rng, rotation=30.0, noise=0.0)
    p["background"][:] = 255.0
    p["ink"][:] = 0.0
    imgs = clocks.render(p, size)
    angles = np.deg2rad(np.arange(0, 360, 0.5))
    ok = 0
    for i in range(n):
        img, cx, cy, rot = imgs[i], p["cx"][i], p["cy"][i], p["rotation"][i]
        # minute: between the hour hand's tip and the minute hand's tip only the minute hand
        rm = np.linspace(p["hour_len"][i] + 3, p["minute_len"][i] - 3, 6)
        am, _ = _peak(_darkness_profile(img, cx, cy, rm, angles), angles)
        minute = int(round(np.rad2deg(am - rot) / 6.0)) % 60
        # hour: near the centre both hands; ignore the minute hand's direction
        hub = p["hour_hw"][i] * 1.3 + 2
        rh = np.linspace(hub + 2, p["hour_len"][i] - 2, 6)
        prof = _darkness_profile(img, cx, cy, rh, angles)
        away = np.abs(((angles - am + np.pi) % (2 * np.pi)) - np.pi) > np.deg2rad(12)
        ah, peak = _peak(np.where(away, prof, 0.0), angles)
        if peak < 0.5 * prof.max():  # hands overlap
            ah = am
        hour = int(round(np.rad2deg(ah - rot) / 30.0 - minute / 60.0)) % 12
        ok += (hour == p["hour"][i]) and (minute == p["minute"][i])
    assert ok == n


def test_generate_deterministic_and_varied():
    x1, y1, _ = clocks.generate(12, 48, seed=3)
    x2, y2, _ = clocks.generate(12, 48, seed=3)
    x3, y3, _ = clocks.generate(12, 48, seed=4)
    assert x1.shape == (12, 48, 48, 1) and x1.dtype == np.uint8 and y1.shape == (12, 2)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and not np.array_equal(x1, x3)
    assert y1[:, 0].max() < 12 and y1[:, 1].max() < 60
    # result independent of the thread pool layout
    p = clocks.draw_params(20, 40, np.random.default_rng(0))
    assert np.array_equal(clocks.render(p, 40, 5, batch=4, workers=1),
                          clocks.render(p, 40, 5, batch=4, workers=3))


def test_clocks_cached_as_npz(tmp_path):
    ds = load_raw("clocks", root=tmp_path, n_images=30, size=40)
    files = list((tmp_path / "clocks").glob("*.npz"))
    assert len(files) == 1 and not list((tmp_path / "clocks").glob("*.part"))
    with np.load(files[0], allow_pickle=False) as z:
        assert np.array_equal(z["x"], ds.x_train) and np.array_equal(z["y"], ds.y_train)
    x, y, _ = clocks.generate(30, 40, seed=0)
    assert np.array_equal(x, ds.x_train) and ds.label_names == ("hour", "minute")
