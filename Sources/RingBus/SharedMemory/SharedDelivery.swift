// SharedDelivery.swift: the delivery loop of a shared-memory subscription: read a batch, run the
// handler on each event in order, commit (gating) after it, wait when there is nothing.
//
// Runs as the subscription's one task, on its bus's thread (the BusWaiter is its task executor).
// Reads go through the subscription's StreamReader; a failing handler goes to the retry policy and,
// when it keeps failing, to a dead letter published through the bus object's SharedPublisher.

import Logging

/// What the delivery loop needs from its bus object.
struct DeliveryContext: Sendable {
    let config: EventBusConfig
    let waitStrategy: WaitStrategy
    let segment: SharedSegment
    let waiter: BusWaiter
    let publisher: SharedPublisher
    let telemetry: BusTelemetry
    let logger: Logger
}

extension SharedSubscription {
    /// The subscription's task: read a batch, handle it in order, commit, wait when there is nothing.
    /// Ends (closing the consumer) when stopped, when the bus is removed, or after `limit` events.
    func run(_ handler: any EventHandler, limit: Int?, context ctx: DeliveryContext) async {
        var remaining = limit ?? Int.max
        var batch: [Taken] = []
        batch.reserveCapacity(min(batchLimit, 1024))
        var sinceCommit = [Int](repeating: 0, count: streams)
        let closure = (handler as? ClosureHandler)?.body
        let batchHandler = (handler as? BatchAdapter)?.handler
        var reported = ReportedCounters()
        var warnedUndecodable = false
        let incarnation = ctx.segment.incarnation
        func report() {
            var now = EventBusStats()
            add(into: &now)
            reported.report(now, to: ctx.telemetry)
            if now.undecodable > 0 && !warnedUndecodable {
                warnedUndecodable = true
                ctx.logger.warning("skipping records that are not events (a raw publish of other bytes, or corrupt)",
                                   metadata: ["count": "\(now.undecodable)"])
            }
        }
        defer { report() }
        reading: while !stopping.load(ordering: .acquiring) {
            read(into: &batch, incarnation: incarnation)
            if !rejected.isEmpty { await deadLetterRejected(ctx) }
            if batch.isEmpty {
                handledAllRead()
                if !deferredLetters.isEmpty { await publishDeferredLetters(ctx) }
                report()
                if await waitForData(ctx) { continue } else { break }
            }
            queued.store(batch.count, ordering: .relaxed)
            if let batchHandler { // one call for the whole batch; its place moves past it only after
                await handleBatch(batch, batchHandler, sinceCommit: &sinceCommit, ctx)
                batch.removeAll(keepingCapacity: true)
                handledAllRead()
                if !deferredLetters.isEmpty { await publishDeferredLetters(ctx) }
                continue
            }
            for i in batch.indices {
                if stopping.load(ordering: .acquiring) {
                    unread(batch[i...])
                    break reading
                }
                willHandle(stream: batch[i].stream, nextPosition: batch[i].nextPosition)
                // The first attempt inline (one async frame fewer per event); failures go to handleFailure.
                // A closure handler's body is called directly: one async call (and task switch) fewer.
                do {
                    if let closure { try await closure(batch[i].event) } else { try await handler.handle(batch[i].event) }
                    counters.delivered.incrementBySoleWriter()
                } catch {
                    await handleFailure(batch[i].event, error, handler: handler, ctx)
                }
                queued.store(batch.count - i - 1, ordering: .relaxed)
                handledOne(stream: batch[i].stream, nextPosition: batch[i].nextPosition, sequence: batch[i].sequence,
                           sinceCommit: &sinceCommit)
                remaining -= 1
                if remaining == 0 { // the limit: commit what was handled, give back the rest, end
                    if i + 1 < batch.count { unread(batch[(i + 1)...]) }
                    reader.commit(stream: Int(batch[i].stream), through: batch[i].nextPosition,
                                  nextSequence: batch[i].sequence &+ 1)
                    break reading
                }
            }
            batch.removeAll(keepingCapacity: true)
            handledAllRead()
            if !deferredLetters.isEmpty { await publishDeferredLetters(ctx) }
        }
        if !deferredLetters.isEmpty { await publishDeferredLetters(ctx, final: true) }
        end()
    }

    /// Invalid envelopes read by a gating subscription (a payload that is not JSON, a field out of its
    /// limits) go to the dead-letter topic with the reason, as a failing handler's events do; they never
    /// reach a handler (an at-most-once subscription counts and skips them).
    private func deadLetterRejected(_ ctx: DeliveryContext) async {
        let letters = rejected
        rejected.removeAll()
        for (event, error) in letters where await deadLetter(event, error, ctx) {
            counters.deadLettered.add(1, ordering: .relaxed)
        }
    }

    /// A failed event's letter, published now, or kept in `deferredLetters` when this subscription's
    /// own place keeps the ring full (then published once its cursor moved past the event). True when
    /// published now or deferred (a deferred letter that then fails is taken back off `deadLettered`).
    func deadLetter(_ event: Event, _ error: any Error, _ ctx: DeliveryContext) async -> Bool {
        guard let letter = ctx.publisher.letter(for: event, error: error) else { return false }
        switch await ctx.publisher.publishLetter(letter) {
        case .published: return true
        case .deferred(let letter):
            deferredLetters.append(letter)
            return true
        case .failed: return false
        }
    }

    /// Publishes the deferred letters, after the batch they failed in was handled and committed (the
    /// room they wait for was this subscription's own). A letter still blocked by this subscription's
    /// place (events published since, not read yet) stays deferred for the next batch; one that fails
    /// otherwise, or any left when the subscription ends (`final`), is taken back off `deadLettered`.
    func publishDeferredLetters(_ ctx: DeliveryContext, final: Bool = false) async {
        var still: [Event] = []
        for letter in deferredLetters {
            switch await ctx.publisher.publishLetter(letter) {
            case .published: break
            case .deferred where !final: still.append(letter)
            default: counters.deadLettered.subtract(1, ordering: .relaxed)
            }
        }
        deferredLetters = still
    }

    /// Runs a batch handler on the events read, then marks them handled (a gating subscription commits
    /// per `commitBatch` as for single events). A throw retries the whole batch, then dead-letters each
    /// event (at-most-once: counted and logged).
    private func handleBatch(_ batch: [Taken], _ handler: any BatchEventHandler, sinceCommit: inout [Int],
                             _ ctx: DeliveryContext) async {
        willHandle(batch: batch) // resumePoint() inside the handler covers the whole batch, every stream
        let events = batch.map(\.event)
        do {
            try await handler.handle(batch: events)
            counters.delivered.add(UInt64(events.count), ordering: .relaxed)
        } catch {
            if ctx.config.deliveryGuarantee == .atMostOnce {
                counters.failed.add(UInt64(events.count), ordering: .relaxed)
                ctx.logger.warning("a batch handler threw; at-most-once: the batch is not retried",
                                   metadata: ["events": "\(events.count)", "error": "\(error)"])
            } else if await retryFailedBatch(events, after: error, policy: ctx.config.retry, counters: counters,
                                             deadLetter: { await self.deadLetter($0, $1, ctx) },
                                             attempt: { try await handler.handle(batch: $0) }) {
                counters.delivered.add(UInt64(events.count), ordering: .relaxed)
            }
        }
        queued.store(0, ordering: .relaxed)
        handledBatch()
        for t in batch { handledOne(stream: t.stream, nextPosition: t.nextPosition, sequence: t.sequence, sinceCommit: &sinceCommit) }
    }

    /// After a handler's first attempt threw: counted and logged (at-most-once), or retried and
    /// dead-lettered.
    private func handleFailure(_ e: Event, _ error: any Error, handler: any EventHandler, _ ctx: DeliveryContext) async {
        if ctx.config.deliveryGuarantee == .atMostOnce {
            counters.failed.add(1, ordering: .relaxed)
            ctx.logger.warning("a handler threw; at-most-once: the event is not retried",
                               metadata: ["topic": "\(e.topic)", "identity": "\(e.identity)", "error": "\(error)"])
        } else if await retryFailedDelivery(e, after: error, to: handler, policy: ctx.config.retry, counters: counters,
                                            deadLetter: { await self.deadLetter($0, $1, ctx) }) {
            counters.delivered.incrementBySoleWriter()
        }
    }

    /// The bus's spinning rule, asked at most every 10 ms (asking reads a line per slot and stream;
    /// asked at every wait it cost a fifth of the throughput of a consumer that keeps catching up).
    private func mayAdaptivelySpin() -> Bool {
        let now = ContinuousClock.now
        if let (allowed, until) = spinDecision, now < until { return allowed }
        let allowed = reader.spinRuleAllows
        spinDecision = (allowed, now + .milliseconds(10))
        return allowed
    }

    /// Waits per the wait strategy until the subscription may have data (`true`), or it is stopping or
    /// the bus was removed (`false`). Spinning follows the bus's one rule (StreamReader.beginSpinning):
    /// `.adaptive` spins only while fewer than online CPUs - 1 participants of the bus spin.
    private func waitForData(_ ctx: DeliveryContext) async -> Bool {
        let spinning: Bool
        var spinUntil: ContinuousClock.Instant?
        switch ctx.waitStrategy {
        case .spin:
            spinning = reader.beginSpinning(always: true)
            spinUntil = nil
        case .adaptive(let spin):
            spinning = mayAdaptivelySpin() && reader.beginSpinning(always: true)
            spinUntil = spinning ? .now + spin : .now
        case .block:
            spinning = false
            spinUntil = .now
        }
        defer { if spinning { reader.endSpinning() } }
        // Polling. The thread is given back to the bus thread's other work after every round of checks
        // when anyone else needs it (a queued job, a sleeping sibling subscription or a publisher waiting
        // for room: their wake needs the thread's own round), else at least every millisecond; not after
        // every check when alone: each Task.yield allocates a job, one heap allocation per event (issue 13).
        var yielded = ContinuousClock.now
        while spinUntil.map({ ContinuousClock.now < $0 }) ?? true {
            if stopping.load(ordering: .acquiring) || ctx.segment.isRemoved { return false }
            for _ in 0..<64 {
                if reader.hasData { return true }
                CPUHints.relax()
            }
            let now = ContinuousClock.now
            if ctx.waiter.othersNeedThread || now - yielded > .milliseconds(1) {
                await Task.yield()
                yielded = now
            }
        }
        if stopping.load(ordering: .acquiring) { return false }
        return await ctx.waiter.waitForData(reader, id: id)
    }
}
