"""``esign seal``: seal one PDF, or every PDF of a folder, with a PKCS#12 key.

Secrets never travel on the command line (shell history, ``ps``): the passphrase comes from an
environment variable or a file. Every refusal prints its stable code and the message in Chinese
and English, and writes no output file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pyhanko.sign.signers import Signer

from api.commands.seal_run import Registry, Run, print_error, seal_file, seal_folder
from esign.errors import ErrorCode, EsignError
from esign.seal.appearance import AtKeyword, AtPosition, CrossPage, Invisible, Placement
from esign.seal.pades import Certification, Level, SealOptions, SM2Format
from esign.sync_bridge import run_sync

if TYPE_CHECKING:
    from esign.gm.ses import SESeal
    from esign.seal.image import SealImage

EXIT_FAILED = 1


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "target",
    required=True,
    type=click.Path(path_type=Path),
    help="Sealed PDF to write; a folder when SOURCE is a folder (batch mode).",
)
@click.option(
    "--p12",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PKCS#12 file with the seal's key and certificate chain.",
)
@click.option("--passphrase-env", metavar="VAR", help="Environment variable holding the PKCS#12 passphrase.")
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File whose first line is the PKCS#12 passphrase.",
)
@click.option(
    "--level",
    type=click.Choice([lv.value for lv in Level]),
    default=Level.B_B.value,
    show_default=True,
    help="PAdES baseline level; B-T and above need --tsa.",
)
@click.option("--tsa", "tsa_url", metavar="URL", help="RFC 3161 time-stamping service URL.")
@click.option("--tsa-timeout", default=10.0, show_default=True, help="Seconds to wait for the TSA.")
@click.option(
    "--certify",
    type=click.Choice([c.value for c in Certification]),
    default="none",
    show_default=True,
    help="Certification seal (DocMDP) and the changes it still allows; 'none' = approval seal.",
)
@click.option("--page", type=int, help="Visible seal on this page (1-based, -1 = last) at --x/--y.")
@click.option("--x", "x_mm", type=float, help="Seal centre, millimetres from the page's left edge.")
@click.option("--y", "y_mm", type=float, help="Seal centre, millimetres from the page's top edge.")
@click.option("--keyword", help="Centre the seal on this text, e.g. the agency name or （盖章）.")
@click.option(
    "--occurrence",
    type=click.Choice(["first", "last"]),
    default="last",
    show_default=True,
    help="Which match of --keyword to use.",
)
@click.option(
    "--cross-page",
    "cross_pages",
    is_flag=False,
    flag_value="all",
    default=None,
    metavar="[PAGES]",
    help="Cross-page seal (骑缝章) over the right edge of PAGES (e.g. 1-4,6; default all pages).",
)
@click.option(
    "--image",
    "image_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Transparent PNG of the seal.",
)
@click.option("--image-width", default=42.0, show_default=True, help="Width of --image on the page (mm).")
@click.option("--seal-name", help="Draw a round official seal for this organisation name instead of --image.")
@click.option("--seal-purpose", default="", help="Purpose text under the star, e.g. 合同专用章.")
@click.option("--seal-code", help="Seal code along the lower arc.")
@click.option(
    "--seal-size", default=42.0, show_default=True, help="Diameter of the drawn seal (mm): 40, 42, 45."
)
@click.option(
    "--seal",
    "registered_seal",
    metavar="CODE",
    help="Seal with this registered seal (registry key, picture and audit record) instead of --p12.",
)
@click.option(
    "--database",
    "database_url",
    envvar="ESIGN_DATABASE_URL",
    metavar="URL",
    help="Registry database for --seal (default: sqlite:///esign.db; env ESIGN_DATABASE_URL).",
)
@click.option(
    "--format",
    "sm2_format",
    type=click.Choice([f.value for f in SM2Format]),
    default=SM2Format.SES.value,
    show_default=True,
    help="What an SM2 key makes: a GB/T 38540 seal signature (ses) or SM2 PKCS#7 (cms).",
)
@click.option(
    "--esl",
    "esl_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="GB/T 38540 seal (.esl) for an SM2 --p12 key; default: one made by ESIGN_SEAL_MAKER_P12.",
)
@click.option("--reason", help="Reason recorded in the signature.")
@click.option("--location", help="Location recorded in the signature.")
def seal(
    source: Path,
    target: Path,
    p12: Path | None,
    passphrase_env: str | None,
    passphrase_file: Path | None,
    level: str,
    tsa_url: str | None,
    tsa_timeout: float,
    certify: str,
    page: int | None,
    x_mm: float | None,
    y_mm: float | None,
    keyword: str | None,
    occurrence: str,
    cross_pages: str | None,
    image_path: Path | None,
    image_width: float,
    seal_name: str | None,
    seal_purpose: str,
    seal_code: str | None,
    seal_size: float,
    reason: str | None,
    registered_seal: str | None,
    database_url: str | None,
    location: str | None,
    sm2_format: str,
    esl_path: Path | None,
) -> None:
    """Seal SOURCE (a PDF, or a folder of PDFs) and write the result to OUTPUT.

    \b
    Key: --seal CODE (a registered seal: its key, its picture, an audit record per document)
         or --p12 with --passphrase-env/--passphrase-file.
    Placement: --page/--x/--y, --keyword, --cross-page, or none of them for an invisible seal.
    Seal picture (with --p12): --image PNG, or --seal-name to draw the standard round seal.
    SM2 keys seal as GB/T 38540 (--format ses, with --esl or the configured seal maker) or SM2 CMS.
    Exit status: 0 all sealed (or already sealed), 1 any document failed, 2 usage error.
    """
    try:
        placement = _placement(page, x_mm, y_mm, keyword, occurrence, cross_pages)
        options = SealOptions(
            level=Level(level),
            certification=Certification(certify),
            placement=placement,
            reason=reason,
            location=location,
            sm2_format=SM2Format(sm2_format),
        )
        if options.level.needs_tsa and not tsa_url:
            raise click.UsageError(f"--level {level} needs --tsa URL (a time-stamping service)")
        if registered_seal:
            if p12 or image_path or seal_name or esl_path:
                raise click.UsageError(
                    "--seal brings its own key and picture: drop --p12, --image, --seal-name, --esl"
                )
            registry = Registry(registered_seal, database_url, options, tsa_url, tsa_timeout)
            sys.exit(0 if run_sync(registry.run(source, target)) else EXIT_FAILED)
        image = _image(image_path, image_width, seal_name, seal_purpose, seal_code, seal_size)
        if not isinstance(placement, Invisible) and image is None:
            raise click.UsageError("a visible seal needs --image or --seal-name")
        signer = _signer(p12, passphrase_env, passphrase_file)
        ses_seal = _ses_seal(signer, options, esl_path, image)
    except EsignError as exc:
        _fail(exc)
    run = Run(signer, options, image, tsa_url, tsa_timeout, ses_seal)
    ok = run_sync(seal_folder(run, source, target) if source.is_dir() else seal_file(run, source, target))
    sys.exit(0 if ok else EXIT_FAILED)


def _placement(
    page: int | None,
    x_mm: float | None,
    y_mm: float | None,
    keyword: str | None,
    occurrence: str,
    cross_pages: str | None,
) -> Placement:
    chosen = [
        name
        for name, on in (("--page", page is not None), ("--keyword", keyword), ("--cross-page", cross_pages))
        if on
    ]
    if len(chosen) > 1:
        raise click.UsageError(f"choose one placement, not {' and '.join(chosen)}")
    if page is not None:
        if x_mm is None or y_mm is None:
            raise click.UsageError("--page needs --x and --y (millimetres from the top-left corner)")
        return AtPosition(page, x_mm, y_mm)
    if keyword:
        return AtKeyword(keyword, occurrence)  # type: ignore[arg-type]
    if cross_pages:
        return CrossPage(None if cross_pages == "all" else _page_list(cross_pages))
    return Invisible()


def _page_list(spec: str) -> tuple[int, ...]:
    pages: list[int] = []
    try:
        for part in spec.split(","):
            first, _, last = part.partition("-")
            pages.extend(range(int(first), int(last or first) + 1))
    except ValueError as exc:
        raise click.UsageError(f"--cross-page takes page numbers like 1-4,6, not {spec!r}") from exc
    return tuple(pages)


def _image(
    image_path: Path | None,
    image_width: float,
    seal_name: str | None,
    purpose: str,
    code: str | None,
    size: float,
) -> SealImage | None:
    from esign.seal.image import round_seal, seal_from_png

    if image_path and seal_name:
        raise click.UsageError("use --image or --seal-name, not both")
    if image_path:
        return seal_from_png(image_path.read_bytes(), image_width)
    if seal_name:
        return round_seal(seal_name, purpose, code, size)
    return None


def _signer(p12: Path | None, passphrase_env: str | None, passphrase_file: Path | None) -> Signer:
    from esign.seal.signers import load_pkcs12

    if p12 is None:
        raise click.UsageError("give the seal's key with --seal CODE or --p12")
    if passphrase_env and passphrase_file:
        raise click.UsageError("use --passphrase-env or --passphrase-file, not both")
    if passphrase_file:
        passphrase = passphrase_file.read_bytes().splitlines()[0] if passphrase_file.stat().st_size else b""
    elif passphrase_env:
        if passphrase_env not in os.environ:
            raise click.UsageError(f"environment variable {passphrase_env} is not set")
        passphrase = os.environ[passphrase_env].encode()
    else:
        passphrase = None
    return load_pkcs12(p12.read_bytes(), passphrase)


def _ses_seal(
    signer: Signer, options: SealOptions, esl_path: Path | None, image: SealImage | None
) -> SESeal | None:
    """The seal an SM2 key signs with in the SES format: ``--esl``, else one the seal maker makes now
    for this certificate, showing ``image`` (or the round seal of the certificate's name)."""
    from esign.gm import ses
    from esign.gm.cms_signer import SM2Signer
    from esign.seal.image import round_seal
    from keystore.certcheck import certificate_validity
    from keystore.esl import SealMaker

    if not isinstance(signer, SM2Signer) or options.sm2_format is not SM2Format.SES:
        if esl_path:
            raise click.UsageError("--esl is for an SM2 key sealing in the SES format")
        return None
    if esl_path:
        seal = ses.parse_seal(esl_path.read_bytes())
        if not isinstance(seal, ses.SESeal):
            raise EsignError(ErrorCode.BAD_OPTION, detail="--esl must be a version-4 (GB/T 38540-2020) seal")
        return seal
    maker = SealMaker.from_env()
    if maker is None:
        raise EsignError(ErrorCode.SEAL_MAKER_MISSING)
    cert = signer.signing_cert
    name = cert.subject.native.get("common_name") or "电子印章"
    picture = image or round_seal(name)
    return maker.make(f"esign-{cert.serial_number:x}", name, 1, picture, cert, certificate_validity(cert))


def _fail(exc: EsignError) -> None:
    print_error(exc)
    sys.exit(EXIT_FAILED if exc.code is not ErrorCode.BAD_OPTION else 2)
