/*
 * components.h - transitional: the pure parts of the pipeline components
 * now have a header each (template.h, prompt.h, draft.h, render.h). Include
 * those; this file goes away once nothing includes it.
 */
#ifndef GB_COMPONENTS_H
#define GB_COMPONENTS_H

#include "draft.h"
#include "prompt.h"
#include "render.h"
#include "template.h"

#endif
