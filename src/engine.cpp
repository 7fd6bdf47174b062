// placeholder until the engine lands
namespace hark {}
