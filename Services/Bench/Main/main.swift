import ArgumentParser
import Bench

await BenchCommand.main()
