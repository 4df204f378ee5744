"""An XML-DSig wrapper around a payment file, for banks that demand an XML signature.

The pain.001 ``Document`` is never signed inside: an enveloped ``ds:Signature`` in it breaks
the official XSD. The exact bytes of the payment file are carried, base64-encoded, in a small
wrapper document that is signed instead::

    <SignedPaymentFile xmlns="urn:disburse:wrapper:1">
      <File name="B00000042-vcb-P001.xml" sha256="..." encoding="base64">BASE64</File>
      <ds:Signature>...</ds:Signature>
    </SignedPaymentFile>

The signature is enveloped over the whole wrapper (reference URI ``""``), RSA-SHA256 (PKCS#1
v1.5, the XML-DSig ``rsa-sha256`` method) with the service's RSA signing key from
``signing_keys``: changing the file name, the hash or one character of the base64 breaks it.
``signxml`` wants an X.509 certificate to put in ``KeyInfo`` and to pin on verification, so
``ensure_xmldsig_certificate`` makes a self-signed certificate for the RSA key and keeps it
beside the key (``<key_dir>/signing/xmldsig.cert.pem``); banks register it like the public
key. Verification pins that certificate (the one in the document is not trusted),
then checks the carried bytes against the signed ``sha256`` attribute.

The wrapper holds the whole file in memory (base64 and canonicalisation need it): it is meant
for the bank files a route splits to a bank's size limit, not for a 370 MiB single file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree  # type: ignore[import-untyped,unused-ignore]
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from disburse.core.clock import utcnow
from disburse.core.errors import ConfigurationError
from disburse.core.keyring import Keyring
from disburse.core.signing import SignatureAlg
from disburse.core.signing_keys import load_signing_key, signing_dir

WRAPPER_NS: Final = "urn:disburse:wrapper:1"
CERTIFICATE_FILE: Final = "xmldsig.cert.pem"
#: Validity of the self-signed certificate; what banks pin is the certificate itself.
CERTIFICATE_DAYS: Final = 3650
_ROOT: Final = f"{{{WRAPPER_NS}}}SignedPaymentFile"
_FILE: Final = f"{{{WRAPPER_NS}}}File"
_EXPECT: Final = SignatureConfiguration(
    require_x509=True, location="./", expect_references=1,
    signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256}))


class XmlWrapperError(ValueError):
    """A signed wrapper is malformed, its signature does not hold, or its content is altered.

    Attributes:
        code: ``malformed``, ``signature_invalid`` or ``sha256_mismatch``.
    """

    def __init__(self, code: str, message: str) -> None:
        """Keep the problem code beside the message."""
        super().__init__(message)
        self.code = code


def certificate_path(key_dir: Path) -> Path:
    """Return where the XML-DSig certificate of the RSA signing key is kept."""
    return signing_dir(key_dir) / CERTIFICATE_FILE


def self_signed_certificate(private_key: rsa.RSAPrivateKey, *, common_name: str,
                            days: int = CERTIFICATE_DAYS) -> x509.Certificate:
    """Return a self-signed X.509 certificate for ``private_key`` (SHA-256, not a CA)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "disburse")])
    now = utcnow()
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(private_key, hashes.SHA256()))


def ensure_xmldsig_certificate(key_dir: Path, keyring: Keyring
                               ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Return the RSA signing key and its certificate, creating the certificate once.

    An existing certificate is kept (banks have registered it) as long as it certifies the
    current RSA key; it is re-made only when it is missing or belongs to another key.

    Raises:
        ConfigurationError: the RSA signing key is missing or cannot be opened.
    """
    private_key, key_id = load_signing_key(key_dir, keyring, SignatureAlg.RSA_PSS_SHA256)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ConfigurationError(f"the {SignatureAlg.RSA_PSS_SHA256.value} key is not RSA")
    path = certificate_path(key_dir)
    if path.exists():
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        if _same_key(certificate, private_key):
            return private_key, certificate
    certificate = self_signed_certificate(private_key, common_name=f"disburse {key_id}")
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    temporary.replace(path)
    return private_key, certificate


def _same_key(certificate: x509.Certificate, private_key: rsa.RSAPrivateKey) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return bool(certificate.public_key().public_bytes(der, spki)
                == private_key.public_key().public_bytes(der, spki))


def sign_xml_wrapper(payment_file: Path, private_key: rsa.RSAPrivateKey,
                     certificate: x509.Certificate, out: Path) -> Path:
    """Wrap the exact bytes of ``payment_file`` and sign the wrapper with XML-DSig.

    Args:
        payment_file: the payment file (pain.001, CSV, ...), carried unchanged.
        private_key: the service's RSA signing key.
        certificate: the certificate of ``private_key`` (put in ``KeyInfo``).
        out: where the signed wrapper is written (atomically).

    Returns:
        ``out``.
    """
    data = payment_file.read_bytes()
    root = etree.Element(_ROOT, nsmap={None: WRAPPER_NS})
    carried = etree.SubElement(root, _FILE, name=payment_file.name,
                               sha256=hashlib.sha256(data).hexdigest(), encoding="base64")
    carried.text = base64.b64encode(data).decode("ascii")
    signer = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256,
                       digest_algorithm=DigestAlgorithm.SHA256)
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    # No reference URI: signxml then signs the whole wrapper (URI="") as an enveloped signature.
    signed = signer.sign(root, key=private_key, cert=cert_pem)
    temporary = out.with_name(out.name + ".tmp")
    temporary.write_bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))
    temporary.replace(out)
    return out


def _parser() -> Any:
    # Hostile input: no entities, no DTD loading, no network; huge_tree because the base64
    # text of a real file exceeds libxml2's default 10 MB text-node limit.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=True, remove_comments=False)


def verify_xml_wrapper(path: Path, certificate: x509.Certificate) -> bytes:
    """Check a signed wrapper against the pinned ``certificate``; return the file's bytes.

    Only what the signature covers is read: the carried bytes are taken from the signed XML
    that the verifier returns, then checked against the signed ``sha256`` attribute.

    Raises:
        XmlWrapperError: the wrapper is malformed, the signature does not verify with
            ``certificate``, or the carried bytes do not match their ``sha256``.
    """
    try:
        result = XMLVerifier().verify(path.read_bytes(), x509_cert=certificate,
                                      parser=_parser(), expect_config=_EXPECT)
    except (InvalidSignature, InvalidInput) as error:
        raise XmlWrapperError("signature_invalid", f"{path.name}: {error}") from None
    except etree.XMLSyntaxError as error:
        raise XmlWrapperError("malformed", f"{path.name}: not well-formed XML: {error}") from None
    verified: Any = result[0] if isinstance(result, list) else result
    return _carried_bytes(path.name, verified.signed_xml)


def _carried_bytes(name: str, signed: Any) -> bytes:
    if signed is None or signed.tag != _ROOT:
        raise XmlWrapperError("malformed", f"{name}: the signed element is not a "
                              "SignedPaymentFile wrapper")
    found = signed.findall(_FILE)
    if len(found) != 1 or found[0].get("encoding") != "base64":
        raise XmlWrapperError("malformed", f"{name}: expected exactly one base64 File element")
    try:
        data = base64.b64decode(found[0].text or "", validate=True)
    except binascii.Error as error:
        raise XmlWrapperError("malformed", f"{name}: the File content is not base64: "
                              f"{error}") from None
    announced = found[0].get("sha256", "")
    actual = hashlib.sha256(data).hexdigest()
    if actual != announced:
        raise XmlWrapperError("sha256_mismatch", f"{name}: the carried file has SHA-256 "
                              f"{actual}, the wrapper announces {announced}")
    return data


__all__ = [
    "CERTIFICATE_FILE",
    "WRAPPER_NS",
    "XmlWrapperError",
    "certificate_path",
    "ensure_xmldsig_certificate",
    "self_signed_certificate",
    "sign_xml_wrapper",
    "verify_xml_wrapper",
]
