"""The few DER (X.690) pieces the identity app assembles by hand: TLV framing and OIDs.

Used for the EST CSR attributes (RFC 7030 4.5.2) and to put a signature made on a PKCS#11 token
into a structure ``cryptography`` built (``signing.py``).
"""


def length(n):
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag, content):
    return bytes([tag]) + length(len(content)) + content


def sequence(*items):
    return tlv(0x30, b"".join(items))


def set_of(*items):
    return tlv(0x31, b"".join(sorted(items)))


def oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def read(data, offset=0):
    """``(tag, content_start, end)`` of the TLV at ``offset``."""
    tag = data[offset]
    first = data[offset + 1]
    if first < 0x80:
        start, size = offset + 2, first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4:
            raise ValueError("Unsupported DER length.")
        start = offset + 2 + count
        size = int.from_bytes(data[offset + 2 : start], "big")
    end = start + size
    if end > len(data):
        raise ValueError("Truncated DER.")
    return tag, start, end


def children(data, offset=0):
    """The encoded TLVs inside the constructed TLV at ``offset``."""
    _tag, start, end = read(data, offset)
    items, position = [], start
    while position < end:
        _t, _s, item_end = read(data, position)
        items.append(data[position:item_end])
        position = item_end
    return items
