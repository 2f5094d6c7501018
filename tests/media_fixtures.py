"""Test footage made with the real ffmpeg from the shipped photos (two shots with opposite colour casts, a montage),
and a client that hands frames back untouched."""
import subprocess

from conftest import SAMPLES

# Shot 1: a pan across garden.png with a warm cast; shot 2: a tilt over ladybird.png with a cool cast.
SHOTS = ((0, 19), (20, 37))


def make_two_shot_clip(ffmpeg: str, path, pix_fmt: str = "yuv444p10le", codec: str = "prores_ks",
                       audio: bool = True, moving: bool = True) -> None:
    """``moving`` False: each shot holds its first framing (a locked-off camera), so its correction holds too."""
    photos = SAMPLES / "photos"
    pan, tilt = ("n*6", "40+n*3") if moving else ("0", "40")
    graph = (f"[0]crop=320:180:x='{pan}':y=40,colorchannelmixer=rr=1.15:bb=0.8,trim=end_frame=20,setpts=N/25/TB[a];"
             f"[1]crop=320:180:x=100:y='{tilt}',colorchannelmixer=rr=0.8:bb=1.2,trim=end_frame=18,setpts=N/25/TB[b];"
             f"[a][b]concat=n=2:v=1:a=0,format={pix_fmt}[v]")
    command = [ffmpeg, "-v", "error", "-y", "-loop", "1", "-i", str(photos / "garden.png"), "-loop", "1",
               "-i", str(photos / "ladybird.png")]
    command += ["-f", "lavfi", "-i", "sine=d=2"] if audio else []
    command += ["-filter_complex", graph, "-map", "[v]"] + (["-map", "2:a", "-c:a", "pcm_s16le"] if audio else [])
    command += ["-c:v", codec, "-r", "25", "-frames:v", "38", "-t", "1.52", "-color_primaries", "bt709",
                "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv", str(path)]
    subprocess.run(command, check=True, timeout=120)


# A montage: two shots of one scene (the dune, framed 60 px apart, one warm, one cool) and a shot of another
# (the ladybird), 12 frames each.
MONTAGE = ((0, 11), (12, 23), (24, 35))
MONTAGE_CASTS = ("colorchannelmixer=rr=1.12:bb=0.85", "colorchannelmixer=rr=0.88:bb=1.15", "null")


def make_montage(ffmpeg: str, path) -> None:
    photos = SAMPLES / "photos"
    graph = (f"[0]crop=320:180:x='40+n*2':y=60,{MONTAGE_CASTS[0]},trim=end_frame=12,setpts=N/25/TB[a];"
             f"[1]crop=320:180:x='100+n*2':y=60,{MONTAGE_CASTS[1]},trim=end_frame=12,setpts=N/25/TB[b];"
             f"[2]crop=320:180:x=100:y='40+n*2',trim=end_frame=12,setpts=N/25/TB[c];"
             "[a][b][c]concat=n=3:v=1:a=0,format=yuv444p[v]")
    subprocess.run([ffmpeg, "-v", "error", "-y", "-loop", "1", "-i", str(photos / "dune.png"), "-loop", "1",
                    "-i", str(photos / "dune.png"), "-loop", "1", "-i", str(photos / "ladybird.png"),
                    "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-qp", "0", "-r", "25",
                    "-frames:v", "36", str(path)], check=True, timeout=120)


class Untouched:
    """A client whose clips hand every frame back as it came: what is left is the media's own conversions."""

    def open_clip(self, **settings):
        return "clip"

    def close_clip(self, clip):
        return 0

    def stream(self, clip, frames, first_index=0):
        from colorgrade.clients.client import Result

        for index, frame in enumerate(frames, first_index):
            yield Result(index=index, cdl=None, confidence=None, label=None, scores={}, lut=None, frame=frame)
