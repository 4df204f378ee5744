"""The XML-DSig wrapper: exact bytes round trip, the XSD still holds, tampering is refused."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree  # type: ignore[import-untyped,unused-ignore]
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from disburse.core.keyring import Keyring
from disburse.core.signing_keys import ensure_signing_keys, export_public
from disburse.payments.payment_files import (
    BankProfile,
    FileHeader,
    PaymentLine,
    validate_pain001,
    write_pain001,
)
from disburse.payments.xmldsig import (
    WRAPPER_NS,
    XmlWrapperError,
    certificate_path,
    ensure_xmldsig_certificate,
    self_signed_certificate,
    sign_xml_wrapper,
    verify_xml_wrapper,
)

NS = {"w": WRAPPER_NS, "ds": "http://www.w3.org/2000/09/xmldsig#"}


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A keyring with the service's signing keys (RSA-3072 generation is slow: once)."""
    directory = tmp_path_factory.mktemp("xmldsig") / "keys"
    ensure_signing_keys(directory, Keyring.init(directory))
    return directory


@pytest.fixture(scope="module")
def signer(key_dir: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The RSA signing key and its self-signed certificate."""
    return ensure_xmldsig_certificate(key_dir, Keyring.load(key_dir))


def _line(i: int) -> PaymentLine:
    return PaymentLine(end_to_end_id=f"PEN202611{i:012d}", amount=2_000_000 + i,
                       creditor_name="Nguyễn Thị Đào", creditor_account=f"00{i:010d}",
                       creditor_bin="970415", creditor_bic=None, purpose="PENS",
                       remittance="pension 2026-11", province_code="79", commune_code="26734")


@pytest.fixture
def pain001(tmp_path: Path) -> Path:
    """A real pain.001.001.09 file of three transactions, valid against the official XSD."""
    header = FileHeader(
        msg_id="B00000042-vcb-P001", created_at=datetime(2026, 11, 20, 3, 0, tzinfo=UTC),
        initiating_party_name="Sở LĐ-TB&XH TP. Hồ Chí Minh", initiating_party_id="SLDTBXH79",
        debtor_name="QUY BAO HIEM XA HOI", debtor_account="1001000000001",
        debtor_bin="970436", debtor_bic=None, requested_execution_date=date(2026, 11, 25),
        batch_id="42", payment_info_id="PI00000042-vcb", category_purpose="PENS")
    lines = [_line(i) for i in range(1, 4)]
    out = io.BytesIO()
    write_pain001(out, header, lines, profile=BankProfile("plain"), nb_of_txs=3,
                  ctrl_sum=sum(line.amount for line in lines))
    path = tmp_path / "B00000042-vcb-P001.xml"
    path.write_bytes(out.getvalue())
    assert validate_pain001(path) == []
    return path


@pytest.fixture
def wrapped(pain001: Path, signer: tuple[rsa.RSAPrivateKey, x509.Certificate]) -> Path:
    """``pain001`` wrapped and signed."""
    key, certificate = signer
    return sign_xml_wrapper(pain001, key, certificate, pain001.with_suffix(".signed.xml"))


def test_round_trip_gives_the_exact_original_bytes(wrapped: Path, pain001: Path,
                                                   signer) -> None:
    assert verify_xml_wrapper(wrapped, signer[1]) == pain001.read_bytes()


def test_the_carried_pain001_still_validates_against_the_xsd(wrapped: Path, signer,
                                                             tmp_path: Path) -> None:
    inner = tmp_path / "inner.xml"
    inner.write_bytes(verify_xml_wrapper(wrapped, signer[1]))
    assert validate_pain001(inner) == []
    assert b"Signature" not in inner.read_bytes()  # nothing was signed inside Document


def test_the_wrapper_has_the_documented_shape(wrapped: Path, pain001: Path) -> None:
    root = etree.parse(str(wrapped)).getroot()
    assert root.tag == f"{{{WRAPPER_NS}}}SignedPaymentFile"
    [carried] = root.findall("w:File", NS)
    assert carried.get("name") == pain001.name
    assert carried.get("encoding") == "base64"
    assert carried.get("sha256") == hashlib.sha256(pain001.read_bytes()).hexdigest()
    assert base64.b64decode(carried.text) == pain001.read_bytes()
    [signature] = root.findall("ds:Signature", NS)  # enveloped: a child of the wrapper
    method = signature.find("ds:SignedInfo/ds:SignatureMethod", NS)
    assert method.get("Algorithm").endswith("rsa-sha256")
    assert signature.find("ds:SignedInfo/ds:Reference", NS).get("URI") == ""
    assert signature.find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS) is not None


def _retext(wrapped: Path, change) -> None:
    """Apply ``change`` to the wrapper's File element and save it, signature untouched."""
    tree = etree.parse(str(wrapped), etree.XMLParser(huge_tree=True))
    change(tree.getroot().find("w:File", NS))
    wrapped.write_bytes(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))


def _flip_base64(element) -> None:
    text = element.text
    middle = len(text) // 2
    element.text = text[:middle] + ("B" if text[middle] != "B" else "C") + text[middle + 1:]


def _other_sha256(element) -> None:
    element.set("sha256", hashlib.sha256(b"something else").hexdigest())


def _recomputed(element) -> None:
    # an attacker changes the file and updates its hash consistently, but cannot re-sign
    data = base64.b64decode(element.text).replace(b"2000001", b"9000001")
    element.text = base64.b64encode(data).decode("ascii")
    element.set("sha256", hashlib.sha256(data).hexdigest())


def _renamed(element) -> None:
    element.set("name", "other.xml")


@pytest.mark.parametrize("change", [_flip_base64, _other_sha256, _recomputed, _renamed],
                         ids=["one-base64-char", "sha256-attribute", "consistent-rewrite",
                              "file-name"])
def test_a_changed_wrapper_fails_verification(wrapped: Path, signer, change) -> None:
    _retext(wrapped, change)
    with pytest.raises(XmlWrapperError) as caught:
        verify_xml_wrapper(wrapped, signer[1])
    assert caught.value.code == "signature_invalid"


def test_a_signed_wrapper_whose_hash_does_not_match_its_content_is_refused(
        pain001: Path, signer, tmp_path: Path) -> None:
    # Validly signed, but the hash attribute lies: the signature holds, the sha256 check fails.
    key, certificate = signer
    root = etree.Element(f"{{{WRAPPER_NS}}}SignedPaymentFile", nsmap={None: WRAPPER_NS})
    carried = etree.SubElement(root, f"{{{WRAPPER_NS}}}File", name=pain001.name,
                               sha256="0" * 64, encoding="base64")
    carried.text = base64.b64encode(pain001.read_bytes()).decode("ascii")
    signed = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256,
                       digest_algorithm=DigestAlgorithm.SHA256).sign(
        root, key=key, cert=[certificate])
    path = tmp_path / "lying.xml"
    path.write_bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))
    with pytest.raises(XmlWrapperError) as caught:
        verify_xml_wrapper(path, certificate)
    assert caught.value.code == "sha256_mismatch"


def test_another_keys_certificate_is_refused(wrapped: Path) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(XmlWrapperError) as caught:
        verify_xml_wrapper(wrapped, self_signed_certificate(stranger, common_name="stranger"))
    assert caught.value.code == "signature_invalid"


def test_a_wrapper_signed_by_another_key_is_refused_even_with_its_own_certificate(
        pain001: Path, signer, tmp_path: Path) -> None:
    # The certificate inside the document is never trusted: the pinned one decides.
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = sign_xml_wrapper(pain001, stranger,
                              self_signed_certificate(stranger, common_name="disburse"),
                              tmp_path / "forged.xml")
    with pytest.raises(XmlWrapperError):
        verify_xml_wrapper(forged, signer[1])


def test_not_xml_is_malformed(tmp_path: Path, signer) -> None:
    path = tmp_path / "junk.xml"
    path.write_bytes(b"<SignedPaymentFile><File>")
    with pytest.raises(XmlWrapperError) as caught:
        verify_xml_wrapper(path, signer[1])
    assert caught.value.code in ("malformed", "signature_invalid")


def test_the_certificate_is_kept_beside_the_key_and_reused(key_dir: Path, signer) -> None:
    key, certificate = signer
    path = certificate_path(key_dir)
    assert path.parent == key_dir / "signing"
    before = path.read_bytes()
    _, again = ensure_xmldsig_certificate(key_dir, Keyring.load(key_dir))
    assert path.read_bytes() == before and again == certificate
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    assert export_public(key_dir, "rsa-pss-sha256") in _public_pem(certificate)


def test_a_certificate_of_another_key_is_replaced(key_dir: Path, signer,
                                                  tmp_path: Path) -> None:
    path = certificate_path(key_dir)
    kept = path.read_bytes()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    try:
        path.write_bytes(self_signed_certificate(stranger, common_name="x")
                         .public_bytes(serialization.Encoding.PEM))
        key, certificate = ensure_xmldsig_certificate(key_dir, Keyring.load(key_dir))
        assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    finally:
        path.write_bytes(kept)


def _public_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

