"""ESP-IDF application images (.bin) for the firmware tests: read the header and the application
description, and make changed copies that are still valid images (the checksum byte and the
appended SHA-256 recomputed), or deliberately not. Layout: app/ota_img.h."""
import hashlib
import struct

HEADER = 24
DESC = 32            # esp_app_desc_t: at the start of the first segment's data
VERSION = DESC + 16  # char version[32]


def segments_end(img):
    """Offset of the checksum byte (after the last segment and its padding)."""
    n = img[1]
    off = HEADER
    for _ in range(n):
        _addr, size = struct.unpack_from("<II", img, off)
        off += 8 + size
    return off + (15 - off % 16)  # padded so that the checksum is the last byte of a 16-byte block


def reseal(img):
    """Recompute the checksum (0xEF ^ every segment data byte) and the appended SHA-256."""
    img = bytearray(img)
    csum = 0xEF
    off = HEADER
    for _ in range(img[1]):
        _addr, size = struct.unpack_from("<II", img, off)
        for b in img[off + 8:off + 8 + size]:
            csum ^= b
        off += 8 + size
    end = segments_end(img)
    img[end] = csum
    if img[23] == 1:  # hash_appended
        img[end + 1:end + 33] = hashlib.sha256(bytes(img[:end + 1])).digest()
    return bytes(img)


def version(img):
    return img[VERSION:VERSION + 32].split(b"\0")[0].decode()


def with_version(img, ver):
    """A valid copy that says it is version ver."""
    raw = ver.encode()
    assert len(raw) < 32
    img = bytearray(img)
    img[VERSION:VERSION + 32] = raw + b"\0" * (32 - len(raw))
    return reseal(img)


def with_chip(img, chip_id):
    """A valid copy for another chip (esp_image_header_t.chip_id)."""
    img = bytearray(img)
    struct.pack_into("<H", img, 12, chip_id)
    return reseal(img)


def corrupted(img, at=None):
    """A copy with one byte of code flipped and the seal left as it was: it fails verification."""
    img = bytearray(img)
    at = len(img) // 2 if at is None else at
    img[at] ^= 0x5A
    return bytes(img)
