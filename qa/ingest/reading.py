"""Reading one corpus file's raw text: encoding detection, Word and PDF extraction, and the
checks that keep broken, disguised or hostile files (zip bombs, binaries) out of the index.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

from qa.errors import DocumentError

SUPPORTED_SUFFIXES = (".txt", ".md", ".docx", ".pdf")
SNIFF_BYTES = 1024  # what a file's first bytes say it is; PDF readers accept junk this long before the header
MAX_CONTROL_SHARE = 0.01  # a text file with more control characters than this is binary
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def _decode(data: bytes, name: str) -> str:
    """UTF-8 first (what most files are); otherwise let charset-normalizer guess (GBK/GB18030)."""
    for encoding in ("utf-8-sig", "utf-8"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise DocumentError(f"无法识别文件编码：{name}")
    encoding = best.encoding
    # GB2312/GBK guesses are widened to GB18030, their superset, so rare characters survive.
    if encoding.lower().replace("-", "").replace("_", "") in ("gb2312", "gbk", "cp936"):
        encoding = "gb18030"
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise DocumentError(f"无法按 {encoding} 解码文件：{name}") from exc


# What a file really is, from its first bytes: a renamed file is refused with a clear message.
MAGIC = ((b"%PDF-", "PDF 文件"), (b"PK\x03\x04", "zip 压缩包（如 Word 文档）"),
         (b"\xd0\xcf\x11\xe0", "旧版或加密的 Office 文件"), (b"\x89PNG", "PNG 图片"),
         (b"\xff\xd8\xff", "JPEG 图片"), (b"GIF8", "GIF 图片"), (b"\x7fELF", "可执行程序"))
EXPECTED_MAGIC = {".pdf": "PDF 文件", ".docx": "zip 压缩包（如 Word 文档）"}
# A docx expands to at most this much, and no large part more than MAX_ZIP_RATIO times (zip bombs).
MAX_DOCX_EXPANDED = 200 * 1024 * 1024
MAX_ZIP_RATIO = 200
MAX_ZIP_MEMBERS = 5000


def sniff_kind(head: bytes) -> str | None:
    if b"%PDF-" in head[:SNIFF_BYTES]:
        return "PDF 文件"
    return next((kind for magic, kind in MAGIC if head.startswith(magic)), None)


def check_kind(path: Path, head: bytes) -> None:
    """Refuse empty files and files that are a known other format than their extension says."""
    if not head:
        raise DocumentError(f"文件内容为空：{path.name}")
    kind, expected = sniff_kind(head), EXPECTED_MAGIC.get(path.suffix.lower())
    if kind == "旧版或加密的 Office 文件" and path.suffix.lower() == ".docx":
        raise DocumentError(f"Word 文档已加密（或为旧版 .doc 格式），无法读取：{path.name}")
    if kind and kind != expected:
        raise DocumentError(f"文件内容与扩展名不符（实为{kind}）：{path.name}")


def check_zip_sizes(path: Path) -> None:
    """Sizes from the zip directory, before anything is decompressed."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise DocumentError(f"Word 文档已损坏或不完整，无法读取：{path.name}") from exc
    total = sum(i.file_size for i in infos)
    bomb = any(i.file_size > (1 << 20) and i.file_size > MAX_ZIP_RATIO * max(i.compress_size, 1)
               for i in infos)
    if total > MAX_DOCX_EXPANDED or bomb or len(infos) > MAX_ZIP_MEMBERS:
        raise DocumentError(f"Word 文档解压后过大（{total / 2**20:.0f} MB，{len(infos)} 个部件），"
                            f"疑似压缩炸弹，已拒绝：{path.name}")


def _read_docx(path: Path) -> str:
    """Paragraphs and tables in body order; a table row becomes one tab-separated line."""
    if not zipfile.is_zipfile(path):
        raise DocumentError(f"文件不是有效的 Word 文档（.docx 应为 zip 格式，文件可能已损坏或不完整）：{path.name}")
    check_zip_sizes(path)
    import docx
    from docx.table import Table as DocxTable
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises several unrelated types on broken files
        raise DocumentError(f"Word 文档已损坏，无法读取：{path.name}") from exc
    lines: list[str] = []
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.append(Paragraph(block, document).text)
        elif tag == "tbl":
            for row in DocxTable(block, document).rows:
                lines.append("\t".join(cell.text.replace("\n", " ") for cell in row.cells))
    return "\n".join(lines)


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise DocumentError(f"PDF 文件已加密，无法读取：{path.name}")
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises PdfReadError but also plain ValueError/KeyError
        raise DocumentError(f"PDF 文件已损坏，无法读取：{path.name}") from exc


def read_text(path: Path) -> str:
    """Raw text of one supported file; DocumentError (Chinese message) when it cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"不支持的文件类型 {suffix or '（无扩展名）'}，已跳过")
    try:
        with open(path, "rb") as handle:
            check_kind(path, handle.read(SNIFF_BYTES))
        if suffix in (".txt", ".md"):
            text = _decode(path.read_bytes(), path.name)
            if "\x00" in text or len(_CONTROL.findall(text)) > len(text) * MAX_CONTROL_SHARE:
                raise DocumentError(f"文件含有二进制内容，不是文本文件：{path.name}")
        elif suffix == ".docx":
            text = _read_docx(path)
        else:
            text = _read_pdf(path)
    except OSError as exc:
        raise DocumentError(f"无法打开文件：{path.name}（{exc.strerror}）") from exc
    if not text.strip():
        raise DocumentError(f"文件内容为空（或无可提取的文字）：{path.name}")
    return text
