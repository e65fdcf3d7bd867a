// tools/commands.h: each subcommand of the normlab command adds itself to the CLI11 app here.
// One file per subcommand: tools/cmd_<name>.cpp.
#pragma once

namespace CLI {
class App;
}

namespace normlab {

void add_demo_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_probe_command(CLI::App& app);
void add_jacobian_command(CLI::App& app);
void add_explain_command(CLI::App& app);

}  // namespace normlab
