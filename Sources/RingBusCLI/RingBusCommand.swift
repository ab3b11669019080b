// ringbus: operate, inspect and demonstrate a RingBus from the shell.

import ArgumentParser
import RingBus

@main
struct RingBusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ringbus",
        abstract: "Shared-memory publish/subscribe bus: operate, inspect and benchmark.",
        version: "ringbus \(RingBusVersion.string) (layout \(RingBusVersion.layout))",
        subcommands: [Demo.self, DemoConsumer.self]
    )
}
