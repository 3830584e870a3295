"""Tests for rongcheng.kernel.crypto: the official vectors, data tokens, SM2 keys, and OpenSSL interoperability.

Vectors are those of docs standards.md §4 (GB/T 32905, GB/T 32907, GB/T 32918) plus RFC 8998 A.1 for SM4-GCM.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import gmssl_pyx
import pytest
from cryptography.hazmat.decrepit.ciphers.modes import OFB
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given, settings
from hypothesis import strategies as st

from rongcheng.kernel import crypto
from rongcheng.kernel.crypto import (
    DEFAULT_SIGNER_ID,
    CryptoError,
    InvalidKeyMaterial,
    KeyRing,
    Sm2PrivateKey,
    Sm2PublicKey,
    blind_index,
    constant_time_equal,
    data_keyring,
    hmac_sm3,
    self_test,
    sm3_digest,
)

KEY_0 = bytes.fromhex("00112233445566778899aabbccddeeff")
KEY_1 = bytes.fromhex("ffeeddccbbaa99887766554433221100")
SPEC_1_0 = f"k1:{KEY_1.hex()},k0:{KEY_0.hex()}"


# --- SM3 (GB/T 32905-2016 Annex A) -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
        (b"", "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"),
    ],
)
def test_sm3_official_vectors(message, digest):
    assert sm3_digest(message).hex() == digest
    reference = hashes.Hash(hashes.SM3())
    reference.update(message)
    assert reference.finalize().hex() == digest


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=1, max_size=200), data=st.binary(max_size=500))
def test_hmac_sm3_agrees_between_gmssl_and_cryptography(key, data):
    reference = hmac.HMAC(key, hashes.SM3())
    reference.update(data)
    assert hmac_sm3(key, data) == reference.finalize()


def test_hmac_sm3_refuses_an_empty_key():
    with pytest.raises(InvalidKeyMaterial, match="non-empty key"):
        hmac_sm3(b"", b"data")


def test_constant_time_equal():
    assert constant_time_equal(b"abc", b"abc")
    assert not constant_time_equal(b"abc", b"abd")
    assert not constant_time_equal(b"abc", b"ab")


# --- SM4 (GB/T 32907-2016; modes from draft-ribose-cfrg-sm4-10; GCM from RFC 8998 A.1) --------------------------------

SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_IV = bytes(range(16))
SM4_MODE_PLAINTEXT = bytes.fromhex("aaaaaaaabbbbbbbbccccccccddddddddeeeeeeeeffffffffaaaaaaaabbbbbbbb")


def _sm4_block_encryptor(key):
    return Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - single blocks: the bare cipher


def test_sm4_single_block_vector():
    assert _sm4_block_encryptor(SM4_KEY).update(SM4_KEY).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_million_iterations_vector():
    update = _sm4_block_encryptor(SM4_KEY).update
    block = SM4_KEY
    for _ in range(1_000_000):
        block = update(block)
    assert block.hex() == "595298c7c6fd271f0402f804c33d3f66"


@pytest.mark.parametrize(
    ("key", "ciphertext"),
    [
        (SM4_KEY, "ac3236cb861dd316e6413b4e3c7524b71d01aca2487ca582cbf5463e6698539b"),
        (
            bytes.fromhex("fedcba98765432100123456789abcdef"),
            "5dcccd25a84ba16560d7f2658870684933fa16bd5cd9c856cacaa1e101897a97",
        ),
    ],
    ids=["key-0123", "key-fedc"],
)
def test_sm4_ofb_vectors(key, ciphertext):
    assert Cipher(algorithms.SM4(key), OFB(SM4_IV)).encryptor().update(SM4_MODE_PLAINTEXT).hex() == ciphertext


def test_sm4_cbc_vector_in_both_backends():
    expected = "78ebb11cc40b0a48312aaeb2040244cb4cb7016951909226979b0d15dc6a8f6d"
    assert Cipher(algorithms.SM4(SM4_KEY), modes.CBC(SM4_IV)).encryptor().update(SM4_MODE_PLAINTEXT).hex() == expected
    # GmSSL only offers CBC with PKCS#7 padding: the unpadded result is its first two blocks.
    padded = gmssl_pyx.sm4_cbc_padding_encrypt(SM4_KEY, SM4_IV, SM4_MODE_PLAINTEXT)
    assert padded[:32].hex() == expected


def test_sm4_gcm_rfc8998_vector_in_both_backends():
    nonce = bytes.fromhex("00001234567800000000ABCD")
    associated_data = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex("".join(2 * (8 * c) for c in "ABCDEFEA"))
    ciphertext = bytes.fromhex(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
    )
    tag = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")
    encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated_data)
    assert encryptor.update(plaintext) + encryptor.finalize() == ciphertext
    assert encryptor.tag == tag
    assert gmssl_pyx.sm4_gcm_encrypt(SM4_KEY, nonce, associated_data, plaintext) == (ciphertext, tag)


# --- KeyRing: SM4-GCM data tokens ------------------------------------------------------------------------------------


@pytest.fixture
def ring():
    return KeyRing({"k1": KEY_1, "k0": KEY_0}, "k1")


def test_round_trip(ring):
    for plaintext in (b"", b"x", "福州市鼓楼区 350102".encode(), os.urandom(5000)):
        assert ring.decrypt(ring.encrypt(plaintext)) == plaintext
        assert ring.decrypt(ring.encrypt(plaintext, associated_data=b"person:7"), associated_data=b"person:7") == (
            plaintext
        )


def test_token_layout_is_version_key_id_nonce_ciphertext_tag(ring):
    token = ring.encrypt(b"hello")
    assert token[:4] == b"\x01\x02k1"
    assert len(token) == 4 + 12 + 5 + 16
    assert ring.encrypt(b"hello")[4:16] != token[4:16]  # a fresh nonce each time


def test_token_is_standard_sm4_gcm_with_the_header_authenticated(ring):
    token = ring.encrypt(b"hello", associated_data=b"ad")
    header, nonce, ciphertext, tag = token[:4], token[4:16], token[16:-16], token[-16:]
    assert gmssl_pyx.sm4_gcm_decrypt(KEY_1, nonce, header + b"ad", ciphertext, tag) == b"hello"


def test_rotation_keeps_old_tokens_readable():
    old_ring = KeyRing.from_spec(f"k0:{KEY_0.hex()}")
    old_token = old_ring.encrypt(b"secret", associated_data=b"row:1")
    rotated = KeyRing.from_spec(SPEC_1_0)
    assert rotated.current_key_id == "k1"
    assert rotated.key_ids == ("k1", "k0")
    assert rotated.decrypt(old_token, associated_data=b"row:1") == b"secret"
    new_token = rotated.encrypt(b"secret")
    assert new_token[2:4] == b"k1"
    with pytest.raises(CryptoError, match=r"'k1'.*not in the key ring"):
        old_ring.decrypt(new_token)


def test_every_flipped_bit_is_rejected(ring):
    token = ring.encrypt(b"hello", associated_data=b"ad")
    for index in range(len(token)):
        for bit in range(8):
            tampered = bytearray(token)
            tampered[index] ^= 1 << bit
            with pytest.raises(CryptoError):
                ring.decrypt(bytes(tampered), associated_data=b"ad")


def test_truncated_and_extended_tokens_are_rejected(ring):
    token = ring.encrypt(b"hello")
    for length in range(len(token)):
        with pytest.raises(CryptoError):
            ring.decrypt(token[:length])
    with pytest.raises(CryptoError):
        ring.decrypt(token + b"\x00")


def test_wrong_associated_data_is_rejected(ring):
    token = ring.encrypt(b"hello", associated_data=b"person:1")
    for wrong in (b"", b"person:2", b"person:1\x00"):
        with pytest.raises(CryptoError, match="failed authentication"):
            ring.decrypt(token, associated_data=wrong)


def test_unknown_key_id_is_rejected(ring):
    foreign = KeyRing({"k9": KEY_0}, "k9").encrypt(b"hello")
    with pytest.raises(CryptoError, match="'k9'"):
        ring.decrypt(foreign)


def test_same_key_under_another_id_does_not_decrypt():
    token = KeyRing({"a": KEY_0}, "a").encrypt(b"hello")
    relabelled = b"\x01\x01b" + token[3:]
    with pytest.raises(CryptoError, match="failed authentication"):
        KeyRing({"b": KEY_0}, "b").decrypt(relabelled)


def test_text_helpers(ring):
    token = ring.encrypt_text("张三 13800000000", associated_data=b"phone")
    assert token.isascii()
    assert "=" not in token
    assert ring.decrypt_text(token, associated_data=b"phone") == "张三 13800000000"
    changed = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    for bad in (changed, token + "!", token[:-1], "", "not base64?"):
        with pytest.raises(CryptoError):
            ring.decrypt_text(bad, associated_data=b"phone")


def test_text_helper_rejects_non_utf8_plaintext(ring):
    token = base64.urlsafe_b64encode(ring.encrypt(b"\xff\xfe")).rstrip(b"=").decode()
    with pytest.raises(CryptoError, match="UTF-8"):
        ring.decrypt_text(token)


@settings(max_examples=100, deadline=None)
@given(plaintext=st.binary(max_size=300), associated_data=st.binary(max_size=40))
def test_round_trip_property(plaintext, associated_data):
    ring = KeyRing.from_spec(SPEC_1_0)
    assert ring.decrypt(ring.encrypt(plaintext, associated_data=associated_data), associated_data=associated_data) == (
        plaintext
    )


def test_spec_tolerates_whitespace_and_upper_case_hex():
    parsed = KeyRing.from_spec(f" k1 : {KEY_1.hex().upper()} ,\n k0:{KEY_0.hex()} ")
    assert parsed.key_ids == ("k1", "k0")
    assert parsed.decrypt(KeyRing({"k0": KEY_0}, "k0").encrypt(b"x")) == b"x"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "entry 1 must look like"),
        ("   ", "entry 1 must look like"),
        ("k1", "entry 1 must look like"),
        (f"k1:{KEY_1.hex()},", "entry 2 must look like"),
        (f"k1:{KEY_1.hex()},,k0:{KEY_0.hex()}", "entry 2 must look like"),
        (f":{KEY_1.hex()}", "entry 1: key id must be"),
        (f"bad id:{KEY_1.hex()}", "entry 1: key id must be"),
        (f"{'k' * 33}:{KEY_1.hex()}", "entry 1: key id must be"),
        (f"密钥:{KEY_1.hex()}", "entry 1: key id must be"),
        ("k1:", "got 0 characters"),
        ("k1:0011", "got 4 characters"),
        (f"k1:{KEY_1.hex()[:-1]}", "got 31 characters"),
        (f"k1:{KEY_1.hex()}00", "got 34 characters"),
        (f"k1:{'zz' * 16}", "exactly 32 hex digits"),
        (f"k1:{KEY_1.hex()[:16]} {KEY_1.hex()[16:]}", "exactly 32 hex digits"),
        (f"k1:0x{KEY_1.hex()[2:]}", "exactly 32 hex digits"),
        (f"k1:{KEY_1.hex()},k1:{KEY_0.hex()}", "'k1' appears twice"),
    ],
)
def test_bad_specs_are_rejected_without_echoing_key_material(spec, message):
    with pytest.raises(InvalidKeyMaterial, match=message) as caught:
        KeyRing.from_spec(spec)
    assert isinstance(caught.value, ValueError)
    assert KEY_1.hex()[:8] not in str(caught.value)


def test_constructor_validates_keys():
    with pytest.raises(InvalidKeyMaterial, match="not in the key ring"):
        KeyRing({"k1": KEY_1}, "k0")
    with pytest.raises(InvalidKeyMaterial, match="16 bytes, not 15"):
        KeyRing({"k1": KEY_1[:15]}, "k1")
    with pytest.raises(InvalidKeyMaterial, match="at least one key"):
        KeyRing({}, "k1")


def test_repr_shows_key_ids_only(ring):
    assert repr(ring) == "KeyRing(current_key_id='k1', key_ids=('k1', 'k0'))"


def test_blind_index():
    index = blind_index(KEY_0 * 2, "350102199001011234")
    reference = hmac.HMAC(KEY_0 * 2, hashes.SM3())
    reference.update(b"350102199001011234")
    assert index == reference.finalize().hex()
    assert blind_index(KEY_0 * 2, "350102199001011234") == index
    assert blind_index(KEY_1 * 2, "350102199001011234") != index
    assert blind_index(KEY_0 * 2, "350102199001011235") != index
    with pytest.raises(InvalidKeyMaterial):
        blind_index(b"short", "x")


@pytest.fixture
def fresh_data_keyring():
    data_keyring.cache_clear()
    yield data_keyring
    data_keyring.cache_clear()


def test_data_keyring_reads_settings_once(settings, fresh_data_keyring):
    settings.DATA_KEYS = SPEC_1_0
    first = fresh_data_keyring()
    assert first.key_ids == ("k1", "k0")
    settings.DATA_KEYS = f"k2:{KEY_0.hex()}"
    assert fresh_data_keyring() is first
    fresh_data_keyring.cache_clear()
    assert fresh_data_keyring().current_key_id == "k2"


@pytest.mark.parametrize("value", ["", "k1:00", None])
def test_data_keyring_rejects_bad_settings(settings, fresh_data_keyring, value):
    settings.DATA_KEYS = value
    with pytest.raises(ImproperlyConfigured, match="DATA_KEYS"):
        fresh_data_keyring()


def test_module_imports_without_django_settings():
    code = "import sys; import rongcheng.kernel.crypto as c; assert not c.self_test(); print('django' in sys.modules)"
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True, timeout=30
    )
    assert result.stdout.strip() == "False"


# --- SM2 vectors (GB/T 32918; standards.md §4 A–D) -------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int


SM2P256V1 = Curve(
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
)
TEST_CURVE = Curve(  # GB/T 32918.2 Annex A
    p=0x8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3,
    a=0x787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498,
    b=0x63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A,
    gx=0x421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D,
    gy=0x0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2,
    n=0x8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7,
)


def _add(curve, p, q):
    """Affine point addition; a slow, plain reference independent of GmSSL (None is the point at infinity)."""
    if p is None:
        return q
    if q is None:
        return p
    (x1, y1), (x2, y2) = p, q
    if x1 == x2 and (y1 + y2) % curve.p == 0:
        return None
    if p == q:
        slope = (3 * x1 * x1 + curve.a) * pow(2 * y1, -1, curve.p) % curve.p
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, curve.p) % curve.p
    x3 = (slope * slope - x1 - x2) % curve.p
    return x3, (slope * (x1 - x3) - y1) % curve.p


def _multiply(curve, k, point):
    result = None
    while k:
        if k & 1:
            result = _add(curve, result, point)
        point = _add(curve, point, point)
        k >>= 1
    return result


def _reference_z(curve, signer_id, point):
    fields = [curve.a, curve.b, curve.gx, curve.gy, *point]
    return sm3_digest(
        (len(signer_id) * 8).to_bytes(2, "big") + signer_id + b"".join(f.to_bytes(32, "big") for f in fields)
    )


def _reference_sign(curve, d, k, e):
    x1, _ = _multiply(curve, k, (curve.gx, curve.gy))
    r = (e + x1) % curve.n
    return r, pow(1 + d, -1, curve.n) * (k - r * d) % curve.n


def _reference_verify(curve, point, e, r, s):
    t = (r + s) % curve.n
    x1, _ = _add(curve, _multiply(curve, s, (curve.gx, curve.gy)), _multiply(curve, t, point))
    return (e + x1) % curve.n == r


def _der_signature(r, s):
    def integer(value):
        content = value.to_bytes(value.bit_length() // 8 + 1, "big")
        return bytes((0x02, len(content))) + content

    body = integer(r) + integer(s)
    return bytes((0x30, len(body))) + body


VECTOR_A_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
VECTOR_A_POINT = (
    0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020,
    0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13,
)
VECTOR_A_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
VECTOR_A_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
VECTOR_A_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
VECTOR_A_PUBLIC = Sm2PublicKey(b"".join(c.to_bytes(32, "big") for c in VECTOR_A_POINT))


def test_vector_a_reference_arithmetic():
    """The standard's own numbers hold on sm2p256v1, checked with plain arithmetic (fixed k, which GmSSL hides)."""
    assert _multiply(SM2P256V1, VECTOR_A_D, (SM2P256V1.gx, SM2P256V1.gy)) == VECTOR_A_POINT
    z = _reference_z(SM2P256V1, DEFAULT_SIGNER_ID, VECTOR_A_POINT)
    assert z.hex().upper() == "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
    e = sm3_digest(z + b"message digest")
    assert e.hex().upper() == "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
    assert _reference_sign(SM2P256V1, VECTOR_A_D, VECTOR_A_K, int.from_bytes(e, "big")) == (VECTOR_A_R, VECTOR_A_S)
    assert _reference_verify(SM2P256V1, VECTOR_A_POINT, int.from_bytes(e, "big"), VECTOR_A_R, VECTOR_A_S)


def test_vector_a_with_the_kernel():
    signature = _der_signature(VECTOR_A_R, VECTOR_A_S)
    assert VECTOR_A_PUBLIC.z_value().hex().upper() == (
        "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
    )
    assert VECTOR_A_PUBLIC.verify(b"message digest", signature)
    assert not VECTOR_A_PUBLIC.verify(b"message digest", signature, signer_id=b"1234567812345679")
    assert not VECTOR_A_PUBLIC.verify(b"message digesT", signature)
    assert not VECTOR_A_PUBLIC.verify(b"message digest", _der_signature(VECTOR_A_R, VECTOR_A_S ^ 1))


def test_vector_a_private_key_pairs_with_its_public_key():
    """GmSSL computes Z from the secret alone, so a matching pair proves d·G = P inside GmSSL too."""
    private_key = Sm2PrivateKey(VECTOR_A_D.to_bytes(32, "big"), VECTOR_A_PUBLIC)
    assert VECTOR_A_PUBLIC.verify(b"message digest", private_key.sign(b"message digest"))
    with pytest.raises(InvalidKeyMaterial, match="does not match"):
        Sm2PrivateKey(VECTOR_A_D.to_bytes(32, "big"), Sm2PrivateKey.generate().public_key)


def test_vector_b_decrypts_with_gmssl():
    """Encryption is not in the kernel API; this checks the backend's C1‖C3‖C2 DER against the standard."""
    x1 = "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"
    y1 = "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"
    c3 = "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"
    c2 = "21886CA989CA9C7D58087307CA93092D651EFA"
    der = bytes.fromhex(f"307C0220{x1}022100{y1}0420{c3}0413{c2}")
    assert gmssl_pyx.sm2_decrypt(VECTOR_A_D.to_bytes(32, "big"), der) == b"encryption standard"


def test_vector_c_on_the_test_curve_reference_only():
    """GmSSL only knows sm2p256v1, so the Annex A test-curve vector is checked with the plain reference."""
    d = 0x128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263
    point = (
        0x0AE4C7798AA0F119471BEE11825BE46202BB79E2A5844495E97C04FF4DF2548A,
        0x7C0240F88F1CD4E16352A73C17B7F16F07353E53A176D684A9FE0C6BB798E857,
    )
    k = 0x6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F
    r = 0x40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1
    s = 0x6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7
    assert _multiply(TEST_CURVE, d, (TEST_CURVE.gx, TEST_CURVE.gy)) == point
    z = _reference_z(TEST_CURVE, b"ALICE123@YAHOO.COM", point)
    assert z.hex().upper() == "F4A38489E32B45B6F876E3AC2168CA392362DC8F23459C1D1146FC3DBFB7BC9A"
    e = int.from_bytes(sm3_digest(z + b"message digest"), "big")
    assert _reference_sign(TEST_CURVE, d, k, e) == (r, s)
    assert _reference_verify(TEST_CURVE, point, e, r, s)


def test_vector_d_z_value_of_a_certificate_key():
    public_key = Sm2PublicKey(
        bytes.fromhex(
            "D69C2F1EEC3BFB6B95B30C28085C77B125D77A9C39525D8190768F37D6B205B5"
            "89DCD316BBE7D89A9DC21917F17799E698531F5E6E3E10BD31370B259C3F81C3"
        )
    )
    assert public_key.z_value().hex().upper() == "4D38D2958CA7FD2CFAE3AF04486959CF92C8EF48E8B83A05C112E739D5F181D0"


# --- SM2 keys --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_key():
    return Sm2PrivateKey.generate()


def test_sign_and_verify(private_key):
    signature = private_key.sign(b"licence 0001")
    assert private_key.public_key.verify(b"licence 0001", signature)
    assert not private_key.public_key.verify(b"licence 0002", signature)
    assert not Sm2PrivateKey.generate().public_key.verify(b"licence 0001", signature)
    with_id = private_key.sign(b"licence 0001", signer_id=b"officer-42")
    assert private_key.public_key.verify(b"licence 0001", with_id, signer_id=b"officer-42")
    assert not private_key.public_key.verify(b"licence 0001", with_id)


def test_signature_is_der_r_s(private_key):
    signature = private_key.sign(b"x")
    assert signature[0] == 0x30
    assert signature[1] == len(signature) - 2
    assert signature[2] == 0x02


def test_key_id(private_key):
    public_key = private_key.public_key
    assert public_key.key_id() == sm3_digest(public_key.to_bytes()).hex()[:16]
    assert len(public_key.to_bytes()) == 65
    assert public_key.to_bytes()[0] == 4
    assert Sm2PrivateKey.generate().public_key.key_id() != public_key.key_id()
    assert repr(public_key) == f"Sm2PublicKey(key_id={public_key.key_id()!r})"
    assert private_key.to_der()[36:68].hex() not in repr(private_key)


def test_public_key_point_encodings(private_key):
    public_key = private_key.public_key
    uncompressed = public_key.to_bytes()
    y_is_odd = uncompressed[-1] & 1
    compressed = bytes((2 + y_is_odd,)) + uncompressed[1:33]
    assert Sm2PublicKey(uncompressed[1:]) == public_key
    assert Sm2PublicKey(compressed) == public_key
    assert hash(Sm2PublicKey(uncompressed)) == hash(public_key)
    for bad in (b"", uncompressed[:-1], b"\x04" + bytes(64), uncompressed[:-1] + bytes((uncompressed[-1] ^ 1,))):
        with pytest.raises(InvalidKeyMaterial):
            Sm2PublicKey(bad)


def test_private_key_validation():
    public_key = VECTOR_A_PUBLIC
    with pytest.raises(InvalidKeyMaterial, match="32 bytes"):
        Sm2PrivateKey(b"\x01" * 31, public_key)
    for out_of_range in (bytes(32), b"\xff" * 32, SM2P256V1.n.to_bytes(32, "big")):
        with pytest.raises(InvalidKeyMaterial):
            Sm2PrivateKey(out_of_range, public_key)


def test_bad_signer_id(private_key):
    with pytest.raises(CryptoError):
        private_key.sign(b"x", signer_id=b"")
    assert not private_key.public_key.verify(b"x", private_key.sign(b"x"), signer_id=b"")


def test_garbage_signatures_return_false(private_key):
    public_key = private_key.public_key
    signature = private_key.sign(b"message")
    n = SM2P256V1.n
    garbage = [
        b"",
        b"\x00",
        b"\x30",
        b"\x30\x00",
        b"\x30\x80\x02\x01\x01\x02\x01\x01\x00\x00",
        signature + b"\x00",
        signature[:2] + signature[2:] * 2,
        _der_signature(0, 1),
        _der_signature(1, 0),
        _der_signature(n, 1),
        _der_signature(1, n),
        _der_signature(n - 1, n - 1),
        b"\x30\x06\x02\x01\xff\x02\x01\x01",
        *(signature[:length] for length in range(1, len(signature))),
        *(os.urandom(size) for size in (1, 8, 64, 70, 71, 72, 1000)),
    ]
    for bad in garbage:
        assert public_key.verify(b"message", bad) is False, bad.hex()


@settings(max_examples=40, deadline=None)
@given(message=st.binary(max_size=200), bit=st.integers(min_value=0), signer_id=st.binary(min_size=1, max_size=40))
def test_sign_verify_property(private_key, message, bit, signer_id):
    signature = private_key.sign(message, signer_id=signer_id)
    assert private_key.public_key.verify(message, signature, signer_id=signer_id)
    if message:
        position = bit % (len(message) * 8)
        changed = bytearray(message)
        changed[position // 8] ^= 1 << (position % 8)
        assert not private_key.public_key.verify(bytes(changed), signature, signer_id=signer_id)
    else:
        assert not private_key.public_key.verify(b"\x00", signature, signer_id=signer_id)


# --- PEM and DER -----------------------------------------------------------------------------------------------------


def test_pem_round_trip(private_key):
    pem = private_key.to_pem()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert pem.endswith("-----END PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in pem.splitlines())
    loaded = Sm2PrivateKey.from_pem(pem)
    assert loaded.public_key == private_key.public_key
    assert loaded.to_pem() == pem
    assert Sm2PrivateKey.from_pem(pem.encode()).to_der() == private_key.to_der()
    public_pem = private_key.public_key.to_pem()
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert Sm2PublicKey.from_pem(public_pem) == private_key.public_key
    assert Sm2PublicKey.from_pem(public_pem.encode()).to_pem() == public_pem


def test_pem_structure_matches_openssl_layout(private_key):
    """The layout OpenSSL 3 writes: id-ecPublicKey + sm2p256v1, ECPrivateKey v1 with a [1] public key and no [0]."""
    der = private_key.to_der()
    assert der[:36].hex() == "308187020100301306072a8648ce3d020106082a811ccf5501822d046d306b0201010420"
    assert der[68:].hex() == "a14403420004" + private_key.public_key.to_bytes()[1:].hex()
    public_der = private_key.public_key.to_der()
    assert (
        public_der.hex()
        == "3059301306072a8648ce3d020106082a811ccf5501822d034200" + private_key.public_key.to_bytes().hex()
    )


@pytest.mark.parametrize(
    ("dotted", "encoded"),
    [
        ("1.2.840.10045.2.1", "06072a8648ce3d0201"),
        ("1.2.156.10197.1.301", "06082a811ccf5501822d"),
        ("1.2.156.10197.1.401", "06082a811ccf55018311"),
        ("2.999.3", "0603883703"),
        ("0.39", "060127"),
    ],
)
def test_der_object_identifiers(dotted, encoded):
    assert crypto._der_oid(dotted).hex() == encoded
    assert crypto._parse_oid(crypto._DerReader(bytes.fromhex(encoded)).read(0x06)) == dotted


@pytest.mark.parametrize(
    ("length", "encoded"),
    [(0, "00"), (127, "7f"), (128, "8180"), (255, "81ff"), (256, "820100"), (65535, "82ffff"), (65536, "83010000")],
)
def test_der_lengths(length, encoded):
    assert crypto._der_length(length).hex() == encoded


@pytest.mark.parametrize(
    ("value", "encoded"), [(0, "020100"), (1, "020101"), (127, "02017f"), (128, "02020080"), (256, "02020100")]
)
def test_der_integers(value, encoded):
    assert crypto._der_integer(value).hex() == encoded
    assert crypto._parse_integer(crypto._DerReader(bytes.fromhex(encoded)).read(0x02)) == value


@settings(max_examples=100, deadline=None)
@given(content=st.binary(max_size=70_000), tag=st.sampled_from([0x02, 0x03, 0x04, 0x06, 0x30, 0xA0, 0xA1]))
def test_der_tlv_round_trip(content, tag):
    reader = crypto._DerReader(crypto._der(tag, content))
    assert reader.read(tag) == content
    reader.finish()


@given(first=st.integers(0, 2), second=st.integers(0, 2**64), rest=st.lists(st.integers(0, 2**64), max_size=8))
def test_der_oid_round_trip(first, second, rest):
    dotted = ".".join(str(arc) for arc in [first, second % 40 if first < 2 else second, *rest])
    assert crypto._parse_oid(crypto._DerReader(crypto._der_oid(dotted)).read(0x06)) == dotted


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ("", "truncated"),
        ("04", "truncated"),
        ("0403aabb", "runs past the end"),
        ("0480", "indefinite"),
        ("048105" + "00" * 5, "long-form length for a short element"),
        ("04820005" + "00" * 5, "leading zero"),
        ("0485" + "01" * 5, "too large"),
        ("0482", "truncated or too large"),
        ("3000", "expected tag 0x04"),
    ],
)
def test_der_reader_rejects_non_der(encoded, message):
    with pytest.raises(InvalidKeyMaterial, match=message):
        crypto._DerReader(bytes.fromhex(encoded)).read(0x04)


@pytest.mark.parametrize(
    ("parser", "content", "message"),
    [
        (crypto._parse_integer, "", "empty INTEGER"),
        (crypto._parse_integer, "0001", "not minimally"),
        (crypto._parse_integer, "ff80", "not minimally"),
        (crypto._parse_integer, "80", "negative"),
        (crypto._parse_oid, "", "malformed"),
        (crypto._parse_oid, "2a86", "malformed"),
        (crypto._parse_oid, "2a8001", "leading 0x80"),
        (crypto._parse_bit_string, "", "whole octets"),
        (crypto._parse_bit_string, "0104", "whole octets"),
    ],
)
def test_der_primitives_reject_malformed_content(parser, content, message):
    with pytest.raises(InvalidKeyMaterial, match=message):
        parser(bytes.fromhex(content))


def test_der_reader_rejects_trailing_data(private_key):
    with pytest.raises(InvalidKeyMaterial, match="trailing"):
        Sm2PrivateKey.from_der(private_key.to_der() + b"\x00")
    with pytest.raises(InvalidKeyMaterial, match="trailing"):
        Sm2PublicKey.from_der(private_key.public_key.to_der() + b"\x00")


def _pem(label, der):
    return crypto._pem_encode(label, der)


def _ec_private_key(secret, point, *, curve=None, public=True):
    content = crypto._der_integer(1) + crypto._der(0x04, secret)
    if curve:
        content += crypto._der(0xA0, crypto._der_oid(curve))
    if public:
        content += crypto._der(0xA1, crypto._der_bit_string(point))
    return crypto._der(0x30, content)


def test_sec1_private_key_is_accepted(private_key):
    secret = private_key.to_der()[36:68]
    point = private_key.public_key.to_bytes()
    sec1 = _ec_private_key(secret, point, curve="1.2.156.10197.1.301")
    pem = "-----BEGIN SM2 PARAMETERS-----\nBggqgRzPVQGCLQ==\n-----END SM2 PARAMETERS-----\n" + _pem(
        "EC PRIVATE KEY", sec1
    )
    assert Sm2PrivateKey.from_pem(pem).to_der() == private_key.to_der()
    with pytest.raises(InvalidKeyMaterial, match="does not name its curve"):
        Sm2PrivateKey.from_pem(_pem("EC PRIVATE KEY", _ec_private_key(secret, point)))
    with pytest.raises(InvalidKeyMaterial, match="not an SM2 key"):
        Sm2PrivateKey.from_pem(_pem("EC PRIVATE KEY", _ec_private_key(secret, point, curve="1.2.840.10045.3.1.7")))


def test_pkcs8_v2_with_attributes_and_public_key_is_accepted(private_key):
    """RFC 5958 OneAsymmetricKey: version 1, optional [0] attributes and [1] public key around the same key."""
    secret = private_key.to_der()[36:68]
    point = private_key.public_key.to_bytes()
    der = crypto._der(
        0x30,
        crypto._der_integer(1)
        + crypto._SM2_ALGORITHM
        + crypto._der(0x04, _ec_private_key(secret, point))
        + crypto._der(0xA0, b"")
        + crypto._der(0x81, b"\x00" + point),
    )
    assert Sm2PrivateKey.from_der(der).to_der() == private_key.to_der()
    with pytest.raises(InvalidKeyMaterial, match="unsupported PKCS#8 version"):
        Sm2PrivateKey.from_der(crypto._der(0x30, crypto._der_integer(2) + der[5:]))


def test_private_key_without_public_key_is_rejected(private_key):
    secret = private_key.to_der()[36:68]
    inner = _ec_private_key(secret, b"", public=False)
    der = crypto._der(0x30, crypto._der_integer(0) + crypto._SM2_ALGORITHM + crypto._der(0x04, inner))
    with pytest.raises(InvalidKeyMaterial, match="lacks the public key"):
        Sm2PrivateKey.from_der(der)


def test_private_key_with_a_foreign_public_key_is_rejected(private_key):
    secret = private_key.to_der()[36:68]
    inner = _ec_private_key(secret, Sm2PrivateKey.generate().public_key.to_bytes())
    der = crypto._der(0x30, crypto._der_integer(0) + crypto._SM2_ALGORITHM + crypto._der(0x04, inner))
    with pytest.raises(InvalidKeyMaterial, match="does not match"):
        Sm2PrivateKey.from_der(der)


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        ("", "no PRIVATE KEY or EC PRIVATE KEY PEM block"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", r"found PUBLIC KEY"),
        ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"),
        ("-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END PRIVATE KEY-----\n", "headers"),
        ("-----BEGIN PRIVATE KEY-----\nA*AA\n-----END PRIVATE KEY-----\n", "not valid base64"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "DER"),
    ],
)
def test_bad_private_pem_is_rejected(pem, message):
    with pytest.raises(InvalidKeyMaterial, match=message):
        Sm2PrivateKey.from_pem(pem)


# --- OpenSSL interoperability ----------------------------------------------------------------------------------------

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command line is not on PATH")


def _openssl(*args, check=True):
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, check=check, timeout=30)


def _openssl_verify(public_pem, message_path, signature_path, signer_id=DEFAULT_SIGNER_ID):
    return _openssl(
        "pkeyutl", "-verify", "-pubin", "-inkey", str(public_pem), "-rawin", "-in", str(message_path),
        "-sigfile", str(signature_path), "-digest", "sm3", "-pkeyopt", f"distid:{signer_id.decode()}",
        check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def openssl_key(tmp_path_factory):
    if OPENSSL is None:
        pytest.skip("the openssl command line is not on PATH")
    directory = tmp_path_factory.mktemp("openssl")
    _openssl("genpkey", "-algorithm", "SM2", "-out", str(directory / "key.pem"))
    _openssl("pkey", "-in", str(directory / "key.pem"), "-pubout", "-out", str(directory / "pub.pem"))
    return directory


@needs_openssl
@pytest.mark.parametrize("signer_id", [DEFAULT_SIGNER_ID, b"officer@fuzhou.gov.cn"])
def test_openssl_verifies_platform_signatures(tmp_path, private_key, signer_id):
    (tmp_path / "pub.pem").write_text(private_key.public_key.to_pem())
    (tmp_path / "msg").write_bytes(b"licence 350102-0001")
    (tmp_path / "sig").write_bytes(private_key.sign(b"licence 350102-0001", signer_id=signer_id))
    result = _openssl_verify(tmp_path / "pub.pem", tmp_path / "msg", tmp_path / "sig", signer_id)
    assert result.returncode == 0, result.stderr
    assert "Signature Verified Successfully" in result.stdout
    (tmp_path / "msg").write_bytes(b"licence 350102-0002")
    tampered = _openssl_verify(tmp_path / "pub.pem", tmp_path / "msg", tmp_path / "sig", signer_id)
    assert tampered.returncode != 0
    assert "Signature Verification Failure" in tampered.stdout


@needs_openssl
def test_openssl_reads_platform_private_key(tmp_path, private_key):
    (tmp_path / "key.pem").write_text(private_key.to_pem())
    result = _openssl("pkey", "-in", str(tmp_path / "key.pem"), "-pubout")
    assert result.stdout == private_key.public_key.to_pem()


@needs_openssl
@pytest.mark.parametrize("signer_id", [DEFAULT_SIGNER_ID, b"officer@fuzhou.gov.cn"])
def test_platform_verifies_openssl_signatures(openssl_key, tmp_path, signer_id):
    (tmp_path / "msg").write_bytes(b"application 2017-000123")
    _openssl(
        "pkeyutl", "-sign", "-inkey", str(openssl_key / "key.pem"), "-rawin", "-in", str(tmp_path / "msg"),
        "-out", str(tmp_path / "sig"), "-digest", "sm3", "-pkeyopt", f"distid:{signer_id.decode()}",
    )  # fmt: skip
    public_key = Sm2PublicKey.from_pem((openssl_key / "pub.pem").read_text())
    signature = (tmp_path / "sig").read_bytes()
    assert public_key.verify(b"application 2017-000123", signature, signer_id=signer_id)
    assert not public_key.verify(b"application 2017-000124", signature, signer_id=signer_id)


@needs_openssl
def test_platform_loads_openssl_keys_and_openssl_verifies_its_signature(openssl_key, tmp_path):
    key_pem = (openssl_key / "key.pem").read_text()
    public_pem = (openssl_key / "pub.pem").read_text()
    private_key = Sm2PrivateKey.from_pem(key_pem)
    public_key = Sm2PublicKey.from_pem(public_pem)
    assert private_key.public_key == public_key
    assert private_key.to_pem() == key_pem  # byte for byte what OpenSSL wrote
    assert public_key.to_pem() == public_pem
    (tmp_path / "msg").write_bytes(b"case 2017-0042")
    (tmp_path / "sig").write_bytes(private_key.sign(b"case 2017-0042"))
    result = _openssl_verify(openssl_key / "pub.pem", tmp_path / "msg", tmp_path / "sig")
    assert result.returncode == 0, result.stderr
    assert "Signature Verified Successfully" in result.stdout


@needs_openssl
def test_openssl_keys_on_other_curves_are_rejected(tmp_path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(tmp_path / "p256.pem"))
    _openssl("pkey", "-in", str(tmp_path / "p256.pem"), "-pubout", "-out", str(tmp_path / "p256.pub"))
    _openssl("genpkey", "-algorithm", "ED25519", "-out", str(tmp_path / "ed.pem"))
    with pytest.raises(InvalidKeyMaterial, match=r"not an SM2 key \(curve 1\.2\.840\.10045\.3\.1\.7"):
        Sm2PrivateKey.from_pem((tmp_path / "p256.pem").read_text())
    with pytest.raises(InvalidKeyMaterial, match="not an SM2 key"):
        Sm2PublicKey.from_pem((tmp_path / "p256.pub").read_text())
    with pytest.raises(InvalidKeyMaterial, match="not an elliptic-curve key"):
        Sm2PrivateKey.from_pem((tmp_path / "ed.pem").read_text())


@needs_openssl
def test_openssl_encrypted_private_key_is_rejected_clearly(tmp_path):
    _openssl(
        "genpkey", "-algorithm", "SM2", "-aes-128-cbc", "-pass", "pass:secret", "-out", str(tmp_path / "enc.pem")
    )  # fmt: skip
    with pytest.raises(InvalidKeyMaterial, match="encrypted private keys are not supported"):
        Sm2PrivateKey.from_pem((tmp_path / "enc.pem").read_text())


# --- Self-test -------------------------------------------------------------------------------------------------------


def test_self_test_passes_quickly():
    started = time.perf_counter()
    assert self_test() == []
    assert time.perf_counter() - started < 0.5


def test_self_test_reports_failures(monkeypatch):
    monkeypatch.setattr(crypto, "_sm3_hash", lambda data: bytes(32))
    failures = self_test()
    assert any("SM3 vector b'abc'" in failure for failure in failures)
    assert any("Z value" in failure for failure in failures)
