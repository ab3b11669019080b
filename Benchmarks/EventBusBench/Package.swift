// swift-tools-version:6.1
// The EventBus benchmark (issue 3): a release-mode executable beside the library, depending on it by path.
// Run: swift run -c release --package-path Benchmarks/EventBusBench
import PackageDescription

let package = Package(
    name: "EventBusBench",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "RingBus", path: "../..")],
    targets: [
        .executableTarget(name: "EventBusBench", dependencies: [
            .product(name: "RingBus", package: "RingBus"),
            .product(name: "RingBusBenchSupport", package: "RingBus"),
        ]),
    ]
)
