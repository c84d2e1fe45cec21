// The one header a plugin author includes: artifacts, stages, flavors and the TRELLIS_PLUGIN macro.
#pragma once

#include <trellis/artifacts.hpp>
#include <trellis/flavor.hpp>
#include <trellis/json.hpp>
#include <trellis/plugin.hpp>
#include <trellis/predictions.hpp>
#include <trellis/stage.hpp>
