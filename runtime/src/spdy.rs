//! SPDY/3.1 framing, the part that Kubernetes port-forwarding uses (moby/spdystream, as
//! client-go speaks it): data frames, SYN_STREAM / SYN_REPLY with zlib-compressed header
//! blocks, RST_STREAM, PING, GOAWAY; SETTINGS, HEADERS and WINDOW_UPDATE are read and passed
//! on (spdystream neither enforces nor sends flow control).
//!
//! Each direction of a connection compresses its header blocks as ONE zlib stream, every block
//! ending in a sync flush. The client's stream uses the SPDY/3 preset dictionary
//! ([`HEADER_DICTIONARY`]); ours does not set one, which Go's zlib reader accepts (it only
//! checks the dictionary when the stream's header announces it). Pure: no I/O here, bytes in
//! and frames out ([`Decoder`]) and frames in and bytes out ([`Encoder`]).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The protocol version in every control frame.
pub const VERSION: u16 = 3;
/// The FIN flag of data and control frames: the sender is done with the stream.
pub const FLAG_FIN: u8 = 0x01;
/// RST_STREAM status: a stream that is refused or was cancelled.
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_CANCEL: u32 = 5;
/// Largest frame we accept (upstream's limit is the 24-bit length field itself).
const MAX_FRAME: usize = (1 << 24) - 1;
/// Largest decompressed header block we accept.
const MAX_HEADER_BLOCK: usize = 1 << 20;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;

/// Why a connection's bytes are not SPDY/3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdyError {
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error("invalid {kind} frame: {reason}")]
    Invalid { kind: &'static str, reason: String },
    #[error("header block: {0}")]
    Headers(String),
}

fn invalid(kind: &'static str, reason: impl Into<String>) -> SpdyError {
    SpdyError::Invalid {
        kind,
        reason: reason.into(),
    }
}

/// Header names and values (names lowercase on the wire).
pub type Headers = Vec<(String, String)>;

/// The value of header `name` (case-insensitive), if present.
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Vec<u8>,
    },
    /// SETTINGS, WINDOW_UPDATE or a type this subset has no use for.
    Other {
        frame_type: u16,
    },
}

/// A header block before compression: count, then length-prefixed names and values, each
/// 32-bit big-endian; names lowercased (SPDY requires it).
pub fn encode_header_block(headers: &Headers) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// Reads an uncompressed header block; several values of one name (NUL-separated on the
/// wire) become several entries.
pub fn decode_header_block(block: &[u8]) -> Result<Headers, SpdyError> {
    struct Cursor<'a>(&'a [u8]);
    impl<'a> Cursor<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], SpdyError> {
            if self.0.len() < n {
                return Err(SpdyError::Headers("truncated".into()));
            }
            let (part, rest) = self.0.split_at(n);
            self.0 = rest;
            Ok(part)
        }
        fn text(&mut self) -> Result<String, SpdyError> {
            let len = be32(self.take(4)?) as usize;
            Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
        }
    }
    let mut cursor = Cursor(block);
    let count = be32(cursor.take(4)?);
    let mut headers = Vec::new();
    for _ in 0..count {
        let name = cursor.text()?;
        if name.is_empty() {
            return Err(SpdyError::Headers("empty header name".into()));
        }
        let value = cursor.text()?;
        for part in value.split('\0') {
            headers.push((name.clone(), part.to_string()));
        }
    }
    Ok(headers)
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Reads frames out of the bytes of one direction of a connection.
pub struct Decoder {
    buffer: Vec<u8>,
    inflate: Decompress,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            buffer: Vec::new(),
            inflate: Decompress::new(true),
        }
    }
}

impl Decoder {
    /// Adds bytes as they arrive (frames may span or share messages).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole frame, `None` until enough bytes arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        if self.buffer.len() < 8 {
            return Ok(None);
        }
        let length = (be32(&self.buffer[4..8]) & 0x00ff_ffff) as usize;
        if length > MAX_FRAME {
            return Err(invalid("any", format!("length {length}")));
        }
        if self.buffer.len() < 8 + length {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buffer.drain(..8 + length).collect();
        let flags = frame[4];
        let payload = &frame[8..];
        if frame[0] & 0x80 == 0 {
            return Ok(Some(Frame::Data {
                stream_id: be32(&frame[0..4]) & 0x7fff_ffff,
                flags,
                data: payload.to_vec(),
            }));
        }
        let version = u16::from_be_bytes([frame[0], frame[1]]) & 0x7fff;
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let frame_type = u16::from_be_bytes([frame[2], frame[3]]);
        let need = |kind: &'static str, n: usize| {
            if payload.len() < n {
                Err(invalid(kind, format!("{} bytes", payload.len())))
            } else {
                Ok(())
            }
        };
        Ok(Some(match frame_type {
            TYPE_SYN_STREAM => {
                need("SYN_STREAM", 10)?;
                Frame::SynStream {
                    stream_id: be32(&payload[0..4]) & 0x7fff_ffff,
                    flags,
                    headers: self.headers(&payload[10..])?,
                }
            }
            TYPE_SYN_REPLY => {
                need("SYN_REPLY", 4)?;
                Frame::SynReply {
                    stream_id: be32(&payload[0..4]) & 0x7fff_ffff,
                    flags,
                    headers: self.headers(&payload[4..])?,
                }
            }
            TYPE_HEADERS => {
                need("HEADERS", 4)?;
                Frame::Headers {
                    stream_id: be32(&payload[0..4]) & 0x7fff_ffff,
                    flags,
                    headers: self.headers(&payload[4..])?,
                }
            }
            TYPE_RST_STREAM => {
                need("RST_STREAM", 8)?;
                Frame::RstStream {
                    stream_id: be32(&payload[0..4]) & 0x7fff_ffff,
                    status: be32(&payload[4..8]),
                }
            }
            TYPE_PING => {
                need("PING", 4)?;
                Frame::Ping {
                    id: be32(&payload[0..4]),
                }
            }
            TYPE_GOAWAY => {
                need("GOAWAY", 8)?;
                Frame::GoAway {
                    last_good_stream_id: be32(&payload[0..4]) & 0x7fff_ffff,
                    status: be32(&payload[4..8]),
                }
            }
            // SETTINGS, WINDOW_UPDATE and the rest: nothing a port-forward server acts on.
            _ => Frame::Other { frame_type },
        }))
    }

    /// Inflates one compressed header block (the next part of the direction's zlib stream)
    /// and reads it.
    fn headers(&mut self, compressed: &[u8]) -> Result<Headers, SpdyError> {
        let mut block = Vec::with_capacity(256);
        let mut input = compressed;
        loop {
            if block.capacity() - block.len() < 256 {
                block.reserve(4096);
            }
            let before = self.inflate.total_in();
            match self
                .inflate
                .decompress_vec(input, &mut block, FlushDecompress::Sync)
            {
                Ok(status) => {
                    input = &input[(self.inflate.total_in() - before) as usize..];
                    if block.len() > MAX_HEADER_BLOCK {
                        return Err(SpdyError::Headers("too large".into()));
                    }
                    if status == Status::StreamEnd {
                        return Err(SpdyError::Headers("the zlib stream ended".into()));
                    }
                    // All input taken and nothing more to write out: the block is whole.
                    if input.is_empty() && block.capacity() > block.len() {
                        break;
                    }
                }
                Err(error) if error.needs_dictionary().is_some() => {
                    input = &input[(self.inflate.total_in() - before) as usize..];
                    self.inflate
                        .set_dictionary(HEADER_DICTIONARY)
                        .map_err(|e| SpdyError::Headers(format!("dictionary: {e}")))?;
                }
                Err(error) => return Err(SpdyError::Headers(error.to_string())),
            }
        }
        decode_header_block(&block)
    }
}

/// Writes frames of one direction of a connection.
pub struct Encoder {
    deflate: Compress,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            deflate: Compress::new(Compression::default(), true),
        }
    }
}

impl Encoder {
    /// An encoder compressing against [`HEADER_DICTIONARY`], as Go clients do; tests play the
    /// client with it.
    pub fn with_dictionary() -> Encoder {
        let mut deflate = Compress::new(Compression::best(), true);
        // A fresh stream always takes a dictionary.
        let _ = deflate.set_dictionary(HEADER_DICTIONARY);
        Encoder { deflate }
    }
}

fn control(frame_type: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&frame_type.to_be_bytes());
    out.extend_from_slice(&(((flags as u32) << 24) | payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

impl Encoder {
    /// The next part of this direction's zlib stream: `headers`, sync-flushed.
    fn compress(&mut self, headers: &Headers) -> Vec<u8> {
        let block = encode_header_block(headers);
        let mut out = Vec::with_capacity(block.len() + 64);
        let mut input = block.as_slice();
        loop {
            out.reserve(256);
            let before = self.deflate.total_in();
            // Writing into a Vec with spare room cannot fail for a healthy stream.
            let _ = self
                .deflate
                .compress_vec(input, &mut out, FlushCompress::Sync);
            input = &input[(self.deflate.total_in() - before) as usize..];
            if input.is_empty() && out.capacity() > out.len() {
                return out;
            }
        }
    }

    /// SYN_REPLY accepting `stream_id`.
    pub fn syn_reply(&mut self, stream_id: u32, flags: u8, headers: &Headers) -> Vec<u8> {
        let mut payload = stream_id.to_be_bytes().to_vec();
        payload.extend(self.compress(headers));
        control(TYPE_SYN_REPLY, flags, &payload)
    }

    /// SYN_STREAM opening `stream_id` (what a client sends; tests play the client).
    pub fn syn_stream(&mut self, stream_id: u32, flags: u8, headers: &Headers) -> Vec<u8> {
        let mut payload = stream_id.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        payload.extend(self.compress(headers));
        control(TYPE_SYN_STREAM, flags, &payload)
    }

    /// A data frame.
    pub fn data(stream_id: u32, flags: u8, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + data.len());
        out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
        out.extend_from_slice(&(((flags as u32) << 24) | data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
        out
    }

    /// RST_STREAM of `stream_id`.
    pub fn rst_stream(stream_id: u32, status: u32) -> Vec<u8> {
        let mut payload = stream_id.to_be_bytes().to_vec();
        payload.extend_from_slice(&status.to_be_bytes());
        control(TYPE_RST_STREAM, 0, &payload)
    }

    /// PING (a reply repeats the peer's id).
    pub fn ping(id: u32) -> Vec<u8> {
        control(TYPE_PING, 0, &id.to_be_bytes())
    }

    /// GOAWAY.
    pub fn goaway(last_good_stream_id: u32, status: u32) -> Vec<u8> {
        let mut payload = last_good_stream_id.to_be_bytes().to_vec();
        payload.extend_from_slice(&status.to_be_bytes());
        control(TYPE_GOAWAY, 0, &payload)
    }
}

/// The zlib preset dictionary of SPDY/3 header blocks (from the SPDY/3 specification, as
/// moby/spdystream and Go's old spdy package carry it).
pub const HEADER_DICTIONARY: &[u8; 1423] = b"\
\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post\x00\x00\x00\x03put\x00\
\x00\x00\x06delete\x00\x00\x00\x05trace\x00\x00\x00\x06accept\x00\x00\x00\x0eaccept-char\
set\x00\x00\x00\x0faccept-encoding\x00\x00\x00\x0faccept-language\x00\x00\x00\x0daccept-\
ranges\x00\x00\x00\x03age\x00\x00\x00\x05allow\x00\x00\x00\x0dauthorization\x00\x00\x00\
\x0dcache-control\x00\x00\x00\x0aconnection\x00\x00\x00\x0ccontent-base\x00\x00\x00\x10c\
ontent-encoding\x00\x00\x00\x10content-language\x00\x00\x00\x0econtent-length\x00\x00\
\x00\x10content-location\x00\x00\x00\x0bcontent-md5\x00\x00\x00\x0dcontent-range\x00\x00\
\x00\x0ccontent-type\x00\x00\x00\x04date\x00\x00\x00\x04etag\x00\x00\x00\x06expect\x00\
\x00\x00\x07expires\x00\x00\x00\x04from\x00\x00\x00\x04host\x00\x00\x00\x08if-match\x00\
\x00\x00\x11if-modified-since\x00\x00\x00\x0dif-none-match\x00\x00\x00\x08if-range\x00\
\x00\x00\x13if-unmodified-since\x00\x00\x00\x0dlast-modified\x00\x00\x00\x08location\x00\
\x00\x00\x0cmax-forwards\x00\x00\x00\x06pragma\x00\x00\x00\x12proxy-authenticate\x00\x00\
\x00\x13proxy-authorization\x00\x00\x00\x05range\x00\x00\x00\x07referer\x00\x00\x00\x0br\
etry-after\x00\x00\x00\x06server\x00\x00\x00\x02te\x00\x00\x00\x07trailer\x00\x00\x00\
\x11transfer-encoding\x00\x00\x00\x07upgrade\x00\x00\x00\x0auser-agent\x00\x00\x00\x04va\
ry\x00\x00\x00\x03via\x00\x00\x00\x07warning\x00\x00\x00\x10www-authenticate\x00\x00\x00\
\x06method\x00\x00\x00\x03get\x00\x00\x00\x06status\x00\x00\x00\x06200\x20OK\x00\x00\x00\
\x07version\x00\x00\x00\x08HTTP/1.1\x00\x00\x00\x03url\x00\x00\x00\x06public\x00\x00\x00\
\x0aset-cookie\x00\x00\x00\x0akeep-alive\x00\x00\x00\x06origin10010120120220520630030230\
3304305306307402405406407408409410411412413414415416417502504505203\x20Non-Authoritative\
\x20Information204\x20No\x20Content301\x20Moved\x20Permanently400\x20Bad\x20Request401\
\x20Unauthorized403\x20Forbidden404\x20Not\x20Found500\x20Internal\x20Server\x20Error501\
\x20Not\x20Implemented503\x20Service\x20UnavailableJan\x20Feb\x20Mar\x20Apr\x20May\x20Ju\
n\x20Jul\x20Aug\x20Sept\x20Oct\x20Nov\x20Dec\x2000:00:00\x20Mon,\x20Tue,\x20Wed,\x20Thu,\
\x20Fri,\x20Sat,\x20Sun,\x20GMTchunked,text/html,image/png,image/jpg,image/gif,applicati\
on/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflat\
e,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn decode_all(decoder: &mut Decoder) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = decoder.next_frame().unwrap() {
            frames.push(frame);
        }
        frames
    }

    #[test]
    fn the_dictionary_is_spdy3s() {
        assert_eq!(HEADER_DICTIONARY.len(), 1423);
        let mut deflate = Compress::new(Compression::best(), true);
        assert_eq!(
            deflate.set_dictionary(HEADER_DICTIONARY).unwrap(),
            0xe3c6_a7c2
        );
    }

    #[test]
    fn header_blocks_round_trip() {
        let cases = [
            headers(&[]),
            headers(&[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "0"),
            ]),
            headers(&[("a", ""), ("b", "x")]),
        ];
        for case in cases {
            assert_eq!(
                decode_header_block(&encode_header_block(&case)).unwrap(),
                case
            );
        }
        assert_eq!(
            decode_header_block(&encode_header_block(&headers(&[("Port", "80")]))).unwrap(),
            headers(&[("port", "80")])
        );
        let mut multi = encode_header_block(&headers(&[("a", "1\x002")]));
        assert_eq!(
            decode_header_block(&multi).unwrap(),
            headers(&[("a", "1"), ("a", "2")])
        );
        multi.truncate(multi.len() - 1);
        assert!(decode_header_block(&multi).is_err());
        assert!(decode_header_block(&[0, 0, 0, 1, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn a_clients_frames_decode_with_the_dictionary_across_blocks() {
        let mut client = Encoder::with_dictionary();
        let error = headers(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]);
        let data = headers(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]);
        let mut bytes = client.syn_stream(1, 0, &error);
        bytes.extend(Encoder::data(1, FLAG_FIN, b""));
        bytes.extend(client.syn_stream(3, 0, &data));
        bytes.extend(Encoder::data(3, 0, b"GET / HTTP/1.0\r\n\r\n"));
        bytes.extend(Encoder::ping(1));
        bytes.extend(Encoder::rst_stream(3, RST_CANCEL));
        bytes.extend(Encoder::goaway(3, 0));
        let want = vec![
            Frame::SynStream {
                stream_id: 1,
                flags: 0,
                headers: error,
            },
            Frame::Data {
                stream_id: 1,
                flags: FLAG_FIN,
                data: vec![],
            },
            Frame::SynStream {
                stream_id: 3,
                flags: 0,
                headers: data,
            },
            Frame::Data {
                stream_id: 3,
                flags: 0,
                data: b"GET / HTTP/1.0\r\n\r\n".to_vec(),
            },
            Frame::Ping { id: 1 },
            Frame::RstStream {
                stream_id: 3,
                status: RST_CANCEL,
            },
            Frame::GoAway {
                last_good_stream_id: 3,
                status: 0,
            },
        ];
        // Whole, and one byte at a time (frames span WebSocket messages).
        let mut whole = Decoder::default();
        whole.push(&bytes);
        assert_eq!(decode_all(&mut whole), want);
        let mut trickle = Decoder::default();
        let mut got = Vec::new();
        for byte in &bytes {
            trickle.push(std::slice::from_ref(byte));
            got.extend(decode_all(&mut trickle));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn our_replies_decode_without_a_dictionary() {
        let mut server = Encoder::default();
        let mut bytes = server.syn_reply(1, 0, &headers(&[]));
        bytes.extend(server.syn_reply(3, FLAG_FIN, &headers(&[("x", "y")])));
        let mut decoder = Decoder::default();
        decoder.push(&bytes);
        assert_eq!(
            decode_all(&mut decoder),
            vec![
                Frame::SynReply {
                    stream_id: 1,
                    flags: 0,
                    headers: vec![]
                },
                Frame::SynReply {
                    stream_id: 3,
                    flags: FLAG_FIN,
                    headers: headers(&[("x", "y")])
                },
            ]
        );
        // The wire form of a control frame: version 3, type, flags, 24-bit length.
        assert_eq!(
            Encoder::ping(7),
            vec![0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7]
        );
        assert_eq!(
            Encoder::data(5, FLAG_FIN, b"hi"),
            vec![0, 0, 0, 5, 1, 0, 0, 2, b'h', b'i']
        );
    }

    #[test]
    fn other_versions_and_short_frames_are_refused() {
        let mut decoder = Decoder::default();
        decoder.push(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
        assert_eq!(decoder.next_frame(), Err(SpdyError::Version(2)));
        let mut decoder = Decoder::default();
        decoder.push(&[0x80, 3, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1]);
        assert!(matches!(
            decoder.next_frame(),
            Err(SpdyError::Invalid { .. })
        ));
        let mut decoder = Decoder::default();
        decoder.push(&[0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 9]);
        assert_eq!(
            decoder.next_frame(),
            Ok(Some(Frame::Other { frame_type: 9 }))
        );
        decoder.push(&[0, 0, 0, 1, 0]);
        assert_eq!(decoder.next_frame(), Ok(None));
    }
}
