// Topic.swift: topic names and subscription filters (NATS subject syntax).
//
// A topic is 1-255 bytes of dot-separated, non-empty tokens, without whitespace, control characters,
// '*' or '>'. A filter is a topic whose tokens may also be '*' (exactly one token) or, as the last
// token, '>' (one or more tokens): "user.*" matches "user.login", "user.>" also "user.login.failed".


/// Topic and filter validation.
public enum Topic {
    /// The longest topic in bytes (a record stores its length in one byte's range).
    public static let maximumLength = 255

    /// Why a topic or filter is invalid, or `nil` when it is valid.
    /// - Parameter allowWildcards: `true` for subscription filters.
    public static func problem(with topic: String, allowWildcards: Bool) -> String? {
        let bytes = topic.utf8
        if bytes.isEmpty { return "Topic cannot be empty" }
        if bytes.count > maximumLength { return "Topic is longer than \(maximumLength) bytes" }
        var tokenLength = 0
        var tokenIsWildcard = false
        var sawFullWildcard = false
        for b in bytes {
            if sawFullWildcard { return "'>' must be the last token" }
            switch b {
            case UInt8(ascii: "."):
                if tokenLength == 0 { return "Topic has an empty token: '\(topic)'" }
                tokenLength = 0
                tokenIsWildcard = false
                continue
            case 0...0x20, 0x7F: return "Topic contains whitespace or a control character: '\(topic)'"
            case UInt8(ascii: "*"), UInt8(ascii: ">"):
                if !allowWildcards { return "Topic cannot contain wildcards when publishing: '\(topic)'" }
                if tokenLength != 0 { return "A wildcard must be a whole token: '\(topic)'" }
                tokenIsWildcard = true
                if b == UInt8(ascii: ">") { sawFullWildcard = true }
            default:
                if tokenIsWildcard { return "A wildcard must be a whole token: '\(topic)'" }
            }
            tokenLength += 1
        }
        if tokenLength == 0 { return "Topic has an empty token: '\(topic)'" }
        return nil
    }

    /// True when `topic` can be published to.
    public static func isValidForPublishing(_ topic: String) -> Bool { problem(with: topic, allowWildcards: false) == nil }
}

/// A validated subscription filter: an exact topic or a pattern with `*` / `>` tokens.
public struct TopicFilter: Sendable, Hashable, CustomStringConvertible {
    /// The filter as written.
    public let pattern: String
    private let tokens: [Substring]
    private let isExact: Bool
    /// For matching a record's topic bytes without making a String: the pattern's bytes and their
    /// FNV-1a 32 hash (the record header's `topic_hash`), and its tokens as bytes (`nil` for `*`).
    private let patternBytes: [UInt8]
    private let patternHash: UInt32
    private let byteTokens: [[UInt8]?]
    private let endsWithFullWildcard: Bool

    /// - Throws: ``EventBusError/invalidTopic(_:)`` naming the problem.
    public init(_ pattern: String) throws(EventBusError) {
        if let why = Topic.problem(with: pattern, allowWildcards: true) { throw .invalidTopic(why) }
        self.pattern = pattern
        tokens = pattern.split(separator: ".", omittingEmptySubsequences: false)
        isExact = !tokens.contains { $0 == "*" || $0 == ">" }
        patternBytes = Array(pattern.utf8)
        patternHash = TopicHash.of(patternBytes)
        endsWithFullWildcard = tokens.last == ">"
        byteTokens = tokens.dropLast(endsWithFullWildcard ? 1 : 0).map { $0 == "*" ? nil : Array($0.utf8) }
    }

    /// True when a record's topic bytes match this filter; `hash` is the record's topic hash, which
    /// settles an exact filter without comparing bytes when it differs. Allocates nothing.
    public func matches(topicBytes topic: UnsafeRawBufferPointer, hash: UInt32) -> Bool {
        if isExact {
            guard hash == patternHash, topic.count == patternBytes.count else { return false }
            return patternBytes.withUnsafeBytes { $0.elementsEqual(topic) }
        }
        var start = 0
        for i in 0..<byteTokens.count { // each token of the topic against the pattern's
            guard start < topic.count else { return false } // the topic has fewer tokens
            var end = start
            while end < topic.count && topic[end] != UInt8(ascii: ".") { end += 1 }
            if let expected = byteTokens[i] {
                guard end - start == expected.count,
                      expected.withUnsafeBytes({ $0.elementsEqual(topic[start ..< end]) }) else { return false }
            }
            if i == byteTokens.count - 1 { // the pattern's last non-'>' token
                // Without '>': the topic must end here. With '>': at least one more token must follow.
                return endsWithFullWildcard ? end < topic.count : end == topic.count
            }
            start = end + 1
        }
        return endsWithFullWildcard && !topic.isEmpty // the pattern is ">" alone
    }

    /// True when `topic` (a valid publishing topic) matches this filter.
    public func matches(_ topic: String) -> Bool {
        if isExact { return topic == pattern }
        var i = 0
        var rest = topic[...]
        while true {
            let dot = rest.firstIndex(of: ".")
            let token = dot.map { rest[..<$0] } ?? rest
            guard i < tokens.count else { return false }
            let f = tokens[i]
            if f == ">" { return true }
            if f != "*" && f != token { return false }
            i += 1
            guard let d = dot else { return i == tokens.count }
            rest = rest[rest.index(after: d)...]
        }
    }

    public var description: String { pattern }
}

extension TopicFilter {
    /// The filters of a subscription to `topics`: at least one, each valid.
    /// - Throws: ``EventBusError/subscribeError(_:)`` for none, ``EventBusError/invalidTopic(_:)`` for an invalid one.
    static func list(_ topics: [String]) throws(EventBusError) -> [TopicFilter] {
        guard !topics.isEmpty else { throw .subscribeError("no topics given (use \">\" for every topic)") }
        return try topics.map { (t) throws(EventBusError) in try TopicFilter(t) }
    }
}
