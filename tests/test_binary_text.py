"""Binary data under a text name is refused; real text in every common encoding is still read.

All samples are generated here: no binary file is committed.
"""

from __future__ import annotations

import codecs
import gzip
import io
import random
import struct
import zipfile

import pytest

from core.ingest.pipeline import read_sources
from core.read import formats as readers
from core.read.documents import FailureKind, read_bytes

ENGLISH = (
    "The wing was tested at three speeds in the tunnel. Flutter appeared above Mach 0.8, "
    "and the engineers stiffened the spar before the next run.\n\n"
    "Results were written down by hand, then typed into the report the following week."
)
LATIN = (
    "Grüße aus Köln: der Bäcker verkauft frische Brötchen. À Paris, l'été est très chaud "
    "et ça coûte cher. El señor Muñoz pagó 3½ pesos; la temperatura es de 25 °C ± 2."
)
WINDOWS = "“Quoted” text – with dashes — costs 5 € … and œuvres by Žižek’s friends."
JAPANESE = (
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
    "何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。"
)
RUSSIAN = "Привет, мир. Это тестовый текст на русском языке, написанный для проверки кодировки."
# A saved terminal log: ESC starts every colour code, two in each line.
COLOUR_LOG = "\n".join(f"\x1b[32mINFO\x1b[0m étape {i} terminée en 12 ms" for i in range(50))
CSV_TEXT = "model,speed,note\ndelta wing,2.5,stall at 14 degrees\nswept wing,0.9,Köln tunnel\n"


def binary_message(name: str) -> str:
    return (
        f"{name} looks like binary data, not text: "
        "check that it is the right file, or save it as plain text and upload that."
    )


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def png_like(seed: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + random_bytes(4096, seed)


def zip_archive() -> bytes:
    """A real deflated archive, as a .docx or .xlsx renamed to .txt is."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", (ENGLISH * 40).encode())
        archive.writestr("media/image1.bin", random_bytes(2048, 7))
    return buffer.getvalue()


def elf_like(seed: int = 0) -> bytes:
    header = (
        b"\x7fELF\x02\x01\x01"
        + b"\x00" * 9
        + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    )
    return header + random_bytes(8192, seed)


def gzip_stream() -> bytes:
    return gzip.compress((ENGLISH * 100).encode(), mtime=0)


def binary_samples() -> dict[str, bytes]:
    """Every binary sample by a label: random bytes of several seeds and sizes, then file formats."""
    samples = {
        f"random {size} B seed {seed}": random_bytes(size, seed)
        for size in (64, 256, 4096, 65536)
        for seed in (0, 1, 2)
    }
    samples.update(
        {
            "png header + random": png_like(),
            "zip archive": zip_archive(),
            "elf header + random": elf_like(),
            "gzip stream": gzip_stream(),
        }
    )
    return samples


def with_stray_controls(paragraph: str = ENGLISH) -> str:
    """A long text with a form feed, three escapes and two NULs, as old exports leave them."""
    paragraphs = [paragraph] * 6
    paragraphs[1] = "\x0c" + paragraphs[1]
    paragraphs[2] = paragraphs[2].replace(" ", " \x1b[1m", 1).replace(".", "\x1b[0m.", 1)
    paragraphs[3] = paragraphs[3].replace(" ", "\x00 ", 1)
    paragraphs[4] = paragraphs[4].replace(" ", "\x1b", 1)
    paragraphs[5] = paragraphs[5].replace(".", ".\x00", 1)
    return "\n\n".join(paragraphs)


def text_samples() -> dict[str, tuple[str, bytes, str]]:
    """Every real text sample by a label: (file name, bytes, the text the reader must give back)."""
    strays, latin_strays = with_stray_controls(), with_stray_controls(LATIN)
    return {
        "utf-8": ("notes.txt", f"{ENGLISH}\n\n{LATIN} {JAPANESE} ✓".encode(), f"{ENGLISH}\n\n{LATIN} {JAPANESE} ✓"),
        "latin-1": ("latin.txt", LATIN.encode("latin-1"), LATIN),
        "windows-1252": ("quotes.txt", WINDOWS.encode("cp1252"), WINDOWS),
        "utf-16 le + bom": ("bom-le.txt", codecs.BOM_UTF16_LE + LATIN.encode("utf-16-le"), LATIN),
        "utf-16 be + bom": ("bom-be.txt", codecs.BOM_UTF16_BE + LATIN.encode("utf-16-be"), LATIN),
        "utf-16 le, no bom": ("le.txt", LATIN.encode("utf-16-le"), LATIN),
        "utf-16 be, no bom": ("be.txt", LATIN.encode("utf-16-be"), LATIN),
        "utf-16 le ascii, no bom": ("ascii-le.md", ENGLISH.encode("utf-16-le"), ENGLISH),
        "utf-16 le cyrillic, no bom": ("ru.txt", RUSSIAN.encode("utf-16-le"), RUSSIAN),
        "shift-jis": ("neko.txt", JAPANESE.encode("shift_jis"), JAPANESE),
        "stray controls": ("export.txt", strays.encode(), readers.clean_text(strays)),
        "windows-1252, stray controls": ("old.txt", latin_strays.encode("cp1252"), readers.clean_text(latin_strays)),
        "terminal log with colour codes": ("build.txt", COLOUR_LOG.encode(), COLOUR_LOG),
        "windows-1252 terminal log": ("build-win.txt", COLOUR_LOG.encode("cp1252"), COLOUR_LOG),
        "markdown": ("readme.md", b"# Wings\n\n* delta with **bold**\n", "# Wings\n\n* delta with **bold**"),
    }


@pytest.mark.parametrize("label", list(binary_samples()))
def test_binary_data_named_txt_is_refused_with_one_sentence(label):
    result = read_bytes("junk.txt", binary_samples()[label])
    assert result.documents == []
    assert [(f.name, f.kind, f.message) for f in result.failures] == [
        ("junk.txt", FailureKind.CORRUPT, binary_message("junk.txt"))
    ]


@pytest.mark.parametrize("name", ["junk.md", "junk.markdown", "junk.csv", "junk.json", "junk.jsonl", "junk.html"])
@pytest.mark.parametrize("label", ["random 4096 B seed 0", "png header + random", "gzip stream"])
def test_binary_data_under_any_text_extension_is_refused(name, label):
    result = read_bytes(name, binary_samples()[label])
    assert result.documents == []
    assert [(f.name, f.message) for f in result.failures] == [(name, binary_message(name))]


@pytest.mark.parametrize("charset", ["utf-8", "windows-1252", "no-such-charset"])
def test_binary_data_behind_a_declared_html_charset_is_refused(charset):
    data = f'<html><head><meta charset="{charset}"></head><body>'.encode() + png_like(3)
    assert read_bytes("page.html", data).failures[0].message == binary_message("page.html")


@pytest.mark.parametrize("label", list(text_samples()))
def test_real_text_in_every_common_encoding_is_read_unchanged(label):
    name, data, expected = text_samples()[label]
    result = read_bytes(name, data)
    assert result.failures == []
    assert [doc.text for doc in result.documents] == [expected]


def test_stray_control_characters_in_a_long_text_are_kept_and_nuls_dropped():
    name, data, expected = text_samples()["stray controls"]
    text = read_bytes(name, data).documents[0].text
    assert text.count("\x1b") == 3 and "\x0c" in text and "\x00" not in text


def test_utf16_without_a_bom_is_detected_by_its_zero_bytes():
    assert readers.decode_text(LATIN.encode("utf-16-le")) == LATIN
    assert readers.decode_text(LATIN.encode("utf-16-be")) == LATIN


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "utf-16-le"])
def test_csv_in_any_encoding_is_still_read(encoding):
    result = read_bytes("wings.csv", CSV_TEXT.encode(encoding))
    assert [doc.text for doc in result.documents] == [
        "model: delta wing | speed: 2.5 | note: stall at 14 degrees\nmodel: swept wing | speed: 0.9 | note: Köln tunnel"
    ]


def test_binary_file_in_a_batch_fails_alone_and_the_good_files_are_still_read(tmp_path):
    files = {
        "good.txt": LATIN.encode("cp1252"),
        "junk.txt": random_bytes(4096, 0),
        "table.csv": CSV_TEXT.encode(),
        "photo.jsonl": png_like(),
        "notes.md": ENGLISH.encode("utf-16"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = read_sources([tmp_path / name for name in files])
    assert [doc.name for doc in result.documents] == ["good.txt", "table.csv", "notes.md"]
    assert [(f.name, f.kind, f.message) for f in result.failures] == [
        ("junk.txt", FailureKind.CORRUPT, binary_message("junk.txt")),
        ("photo.jsonl", FailureKind.CORRUPT, binary_message("photo.jsonl")),
    ]


def test_binary_member_of_a_zip_is_refused_and_its_siblings_read():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", ENGLISH)
        archive.writestr("junk.txt", random_bytes(1024, 3))
    result = read_bytes("bundle.zip", buffer.getvalue())
    assert [doc.name for doc in result.documents] == ["bundle.zip/notes.txt"]
    assert [(f.name, f.message) for f in result.failures] == [
        ("bundle.zip/junk.txt", binary_message("bundle.zip/junk.txt"))
    ]
