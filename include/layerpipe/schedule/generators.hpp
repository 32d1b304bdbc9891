// layerpipe/schedule/generators.hpp — every schedule generator and the name registry, in one
// include.
//
//   #include <layerpipe/schedule/generators.hpp>
//   auto a = layerpipe::gpipe(4, 8);
//   auto b = layerpipe::one_f_one_b(4, 8);
//   auto c = layerpipe::interleaved_1f1b(4, 8, 2);
//   auto d = layerpipe::looped_bfs(4, 8, 2);
//   auto e = layerpipe::chimera(4, 8);                 // two replicas, opposite directions
//   auto f = layerpipe::make_schedule("pipedream-flush", {.devices = 4, .micro_batches = 8});
#pragma once

#include <layerpipe/schedule/async_pipelines.hpp>
#include <layerpipe/schedule/bitpipe.hpp>
#include <layerpipe/schedule/chimera.hpp>
#include <layerpipe/schedule/dualpipe.hpp>
#include <layerpipe/schedule/dualpipe_v.hpp>
#include <layerpipe/schedule/families.hpp>
#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/looped_bfs.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/schedule/pipe_offload.hpp>
#include <layerpipe/schedule/v_shape.hpp>
#include <layerpipe/schedule/zb1p.hpp>
#include <layerpipe/schedule/zb_auto.hpp>
#include <layerpipe/schedule/zb_v.hpp>
#include <layerpipe/schedule/zero_bubble.hpp>
