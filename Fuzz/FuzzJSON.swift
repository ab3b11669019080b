// FuzzJSON.swift: the strict JSON decoder over arbitrary bytes. Oracles: it never traps; the validator
// (what a bus runs on bytes that arrive) and the decoder (what `payload` runs) agree on every input,
// with the same error offset; a decoded value re-encodes to bytes that decode to the same value.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var decoded: Result<JSONValue, JSONDecodingError>
    do { decoded = .success(try JSONValue(decoding: bytes)) } catch { decoded = .failure(error) }
    var validated: JSONDecodingError? = nil
    do { _ = try Event(topic: "t", jsonBytes: bytes) } catch { validated = error }
    switch decoded {
    case .success(let value):
        guard validated == nil else { fatalError("the validator refuses what the decoder accepts: \(validated!)") }
        guard (try? JSONValue(decoding: value.encodedBytes())) == value else { fatalError("the re-encoded value differs") }
    case .failure(let error):
        guard validated?.offset == error.offset else { fatalError("validator \(String(describing: validated)) vs decoder \(error)") }
    }
    return 0
}
