"""A lab's own PKI, as kubeadm makes a cluster's: a CA ("kubernetes"), the API server's serving
certificate and the admin client certificate (``CN=kubernetes-admin, O=system:masters``), in
EC P-256 (milliseconds to make, where RSA would take a second), and the kubeconfig files that
use them. Files are mode 0600 in the lab's 0700 run directory."""

import base64
import datetime
import ipaddress
import os

from lab.kernel.files import write_atomic

CA, SERVER, CLIENT = "ca", "apiserver", "admin"
VALID_DAYS = 365


def _crypto():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def make(directory, hostnames, addresses):
    """CA, serving and client certificates and keys in ``directory`` (``pki/``): the serving
    certificate for ``hostnames`` and ``addresses``. Returns the paths."""
    x509, hashes, serialization, ec, eku, oid = _crypto()
    pki = os.path.join(directory, "pki")
    os.makedirs(pki, mode=0o700, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=VALID_DAYS)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn, org=None):
        attrs = ([x509.NameAttribute(oid.ORGANIZATION_NAME, org)] if org else []) + \
            [x509.NameAttribute(oid.COMMON_NAME, cn)]
        return x509.Name(attrs)

    ca_key = key()
    ca_name = name("kubernetes")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn, org, usage, sans=None):
        k = key()
        builder = (x509.CertificateBuilder().subject_name(name(cn, org)).issuer_name(ca_name)
                   .public_key(k.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(until)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return k, builder.sign(ca_key, hashes.SHA256())

    sans = [x509.DNSName(h) for h in hostnames] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    server_key, server = leaf("kube-apiserver", None, eku.SERVER_AUTH, sans)
    client_key, client = leaf("kubernetes-admin", "system:masters", eku.CLIENT_AUTH)
    pem = serialization.Encoding.PEM
    out = {}
    for label, cert, private in ((CA, ca, ca_key), (SERVER, server, server_key), (CLIENT, client, client_key)):
        crt, keyfile = os.path.join(pki, f"{label}.crt"), os.path.join(pki, f"{label}.key")
        _write_private(crt, cert.public_bytes(pem))
        _write_private(keyfile, private.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
        out[label] = (crt, keyfile)
    return out


def _b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def kubeconfig(paths, server):
    """A kubeadm-style admin.conf for ``server`` (an https:// URL)."""
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "- cluster:\n"
        f"    certificate-authority-data: {_b64(paths[CA][0])}\n"
        f"    server: {server}\n"
        "  name: kubernetes\n"
        "contexts:\n"
        "- context:\n"
        "    cluster: kubernetes\n"
        "    user: kubernetes-admin\n"
        "  name: kubernetes-admin@kubernetes\n"
        "current-context: kubernetes-admin@kubernetes\n"
        "preferences: {}\n"
        "users:\n"
        "- name: kubernetes-admin\n"
        "  user:\n"
        f"    client-certificate-data: {_b64(paths[CLIENT][0])}\n"
        f"    client-key-data: {_b64(paths[CLIENT][1])}\n")


def write_kubeconfig(path, text):
    write_atomic(path, text)
    os.chmod(path, 0o600)
