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

    /// - Throws: ``EventBusError/invalidTopic(_:)`` naming the problem.
    public init(_ pattern: String) throws(EventBusError) {
        if let why = Topic.problem(with: pattern, allowWildcards: true) { throw .invalidTopic(why) }
        self.pattern = pattern
        tokens = pattern.split(separator: ".", omittingEmptySubsequences: false)
        isExact = !tokens.contains { $0 == "*" || $0 == ">" }
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
