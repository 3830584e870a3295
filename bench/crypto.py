"""Throughput of rongcheng.kernel.crypto against the raw backends it wraps, measured in the same run.

Run: uv run python bench/crypto.py [--smoke]

Each figure is the median of REPEATS timed batches; kernel and raw batches alternate so that drift (CPU frequency,
other load) hits both sides alike. The ratio kernel/raw shows what the wrapper costs: the target for SM2
verification is at least 0.9. Needs no Django settings.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gmssl_pyx
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from rongcheng.kernel.crypto import KeyRing, Sm2PrivateKey, Sm2PublicKey, hmac_sm3, sm3_digest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _smoke import goal, parse_arguments

REPEATS = 9
DIVISOR = 1  # smoke mode divides every batch's iterations by this
MIB = 1 << 20
VERIFY_TARGET = 0.9  # kernel SM2 verification must keep at least this share of the raw gmssl_pyx rate


def _batch_seconds(operation: Callable[[], object], iterations: int) -> float:
    iterations = max(1, iterations // DIVISOR)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(iterations):
            operation()
        return time.perf_counter() - started
    finally:
        if gc_was_enabled:
            gc.enable()


def compare(
    label: str,
    unit: str,
    kernel: Callable[[], object],
    raw: Callable[[], object],
    *,
    iterations: int,
    scale: float = 1.0,
    target: float | None = None,
) -> float:
    """Print kernel and raw rates (operations per second times `scale`) and return the kernel/raw ratio."""
    kernel()
    raw()  # warm caches and lazy initialisation outside the timed batches
    kernel_rates: list[float] = []
    raw_rates: list[float] = []
    sides = [(raw, raw_rates), (kernel, kernel_rates)]
    for repeat in range(REPEATS):
        # Alternate which side goes first, so neither always runs on a warmer or colder machine.
        for operation, rates in sides if repeat % 2 == 0 else reversed(sides):
            rates.append(max(1, iterations // DIVISOR) * scale / _batch_seconds(operation, iterations))
    kernel_rate, raw_rate = statistics.median(kernel_rates), statistics.median(raw_rates)
    ratio = kernel_rate / raw_rate
    verdict = "" if target is None else ("  ok" if ratio >= target else f"  BELOW TARGET {target}")
    figures = f"kernel {kernel_rate:>11,.1f} {unit:<6} raw {raw_rate:>11,.1f} {unit:<6}"
    print(f"{label:<40} {figures} ratio {ratio:.3f}{verdict}")
    return ratio


def single(label: str, unit: str, operation: Callable[[], object], *, iterations: int, scale: float = 1.0) -> None:
    operation()
    done = max(1, iterations // DIVISOR)
    rate = statistics.median(done * scale / _batch_seconds(operation, iterations) for _ in range(REPEATS))
    print(f"{label:<40} {rate:>11,.1f} {unit}")


def _cryptography_sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def _cryptography_hmac_sm3(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def _gmssl_sm4_gcm_encrypt(key: bytes, plaintext: bytes) -> object:
    return gmssl_pyx.sm4_gcm_encrypt(key, os.urandom(12), b"person:1", plaintext)


def main() -> int:
    global REPEATS, DIVISOR
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--divisor", type=int, default=DIVISOR, help="divide every batch's iterations by this")
    args = parse_arguments(parser, repeats=1, divisor=100)
    REPEATS, DIVISOR = args.repeats, args.divisor
    started = time.perf_counter()
    print(f"rongcheng.kernel.crypto benchmark: median of {REPEATS} batches; gmssl_pyx {gmssl_pyx.__version__}")
    failures: list[str] = []

    print("\nSM2 (sm2p256v1, SM3 with Z value, default signer id)")
    raw_public, raw_secret = gmssl_pyx.sm2_key_generate()
    private_key = Sm2PrivateKey(raw_secret, Sm2PublicKey(raw_public))
    public_key = private_key.public_key
    message = b"licence 350102-2017-000123: issued to a resident of Gulou district"
    signature = private_key.sign(message)
    compare(
        "sign",
        "ops/s",
        lambda: private_key.sign(message),
        lambda: gmssl_pyx.sm2_sign(raw_secret, raw_public, message),
        iterations=40,
    )
    verify_ratio = compare(
        "verify",
        "ops/s",
        lambda: public_key.verify(message, signature),
        lambda: gmssl_pyx.sm2_verify(raw_public, message, signature),
        iterations=200,
        target=VERIFY_TARGET,
    )
    if not goal(
        f"SM2 verify through the kernel >= {VERIFY_TARGET} x raw GmSSL",
        f"{verify_ratio:.3f}",
        verify_ratio >= VERIFY_TARGET,
    ):
        failures.append(f"SM2 verify through the kernel is {verify_ratio:.3f} of raw GmSSL, below {VERIFY_TARGET}")

    print("\nSM3")
    big, small = os.urandom(MIB), os.urandom(64)
    compare(
        "digest, 1 MiB",
        "MB/s",
        lambda: sm3_digest(big),
        lambda: gmssl_pyx.sm3_hash(big),
        iterations=20,
        scale=MIB / 1e6,
    )
    compare(
        "digest, 64 B",
        "MB/s",
        lambda: sm3_digest(small),
        lambda: gmssl_pyx.sm3_hash(small),
        iterations=50_000,
        scale=len(small) / 1e6,
    )
    single("  (cryptography hashes.SM3, 1 MiB)", "MB/s", lambda: _cryptography_sm3(big), iterations=20, scale=MIB / 1e6)
    single(
        "  (cryptography hashes.SM3, 64 B)",
        "MB/s",
        lambda: _cryptography_sm3(small),
        iterations=30_000,
        scale=len(small) / 1e6,
    )

    print("\nHMAC-SM3 (32-byte key, 64-byte message)")
    mac_key = os.urandom(32)
    compare(
        "hmac_sm3",
        "ops/s",
        lambda: hmac_sm3(mac_key, small),
        lambda: gmssl_pyx.sm3_hmac(mac_key, small),
        iterations=50_000,
    )
    single("  (cryptography HMAC-SM3)", "ops/s", lambda: _cryptography_hmac_sm3(mac_key, small), iterations=30_000)

    print("\nSM4-GCM encrypt (raw = cryptography with a fresh random nonce, ciphertext + tag)")
    key = os.urandom(16)
    ring = KeyRing({"k1": key}, "k1")
    sm4 = algorithms.SM4(key)

    def raw_encrypt(plaintext: bytes) -> bytes:
        encryptor = Cipher(sm4, modes.GCM(os.urandom(12))).encryptor()
        encryptor.authenticate_additional_data(b"person:1")
        return encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag

    for label, record, iterations, info_iterations in (
        ("1 MiB record", big, 15, 5),
        ("64 B record", small, 20_000, 20_000),
    ):
        compare(
            f"KeyRing.encrypt, {label}",
            "MB/s",
            functools.partial(ring.encrypt, record, associated_data=b"person:1"),
            functools.partial(raw_encrypt, record),
            iterations=iterations,
            scale=len(record) / 1e6,
        )
        single(
            f"  (gmssl_pyx SM4-GCM, {label})",
            "MB/s",
            functools.partial(_gmssl_sm4_gcm_encrypt, key, record),
            iterations=info_iterations,
            scale=len(record) / 1e6,
        )
    token = ring.encrypt(small, associated_data=b"person:1")
    single(
        "KeyRing.decrypt, 64 B record",
        "MB/s",
        lambda: ring.decrypt(token, associated_data=b"person:1"),
        iterations=20_000,
        scale=len(small) / 1e6,
    )

    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures and not args.smoke else 0


if __name__ == "__main__":
    sys.exit(main())
