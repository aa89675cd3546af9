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


def segments(img):
    """[(load address, data offset in the file, size)] of an image."""
    out = []
    off = HEADER
    for _ in range(img[1]):
        addr, size = struct.unpack_from("<II", img, off)
        out.append((addr, off + 8, size))
        off += 8 + size
    return out


def symbol(elf_path, name):
    """Address of a function in the app's ELF (pyelftools, Debian python3-pyelftools)."""
    from elftools.elf.elffile import ELFFile
    with open(elf_path, "rb") as f:
        sym = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)
        if not sym:
            raise KeyError(f"{name} not in {elf_path}")
        return sym[0]["st_value"]


def crashing(img, elf_path, func="esp_log_write"):
    """A valid copy (checksum and SHA-256 right, so it is accepted and boots) whose `func` starts
    with an illegal instruction (0x0000, c.unimp): the CPU traps there and the chip panics.

    `func` must run from IRAM (a segment the bootloader copies into RAM), not from flash: QEMU
    keeps the code it translated from the flash-mapped range (0x42...) across a restart and would
    run the previous image's instructions at that address. esp_log_write (IRAM) runs at the
    app's first ESP_LOGx, after the panic handler is ready ("main_task: Started on CPU0")."""
    addr = symbol(elf_path, func)
    if 0x42000000 <= addr < 0x44000000:
        raise ValueError(f"{func} runs from flash ({addr:#x}): QEMU would run stale code there; pick an IRAM function")
    img = bytearray(img)
    for load, off, size in segments(img):
        if load <= addr < load + size:
            img[off + addr - load:off + addr - load + 2] = b"\0\0"
            return reseal(img)
    raise ValueError(f"{func} at {addr:#x} is in no segment of the image")
