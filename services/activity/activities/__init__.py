"""The activity log (活动记录): service activities (四服务) and Party-building
activities (党建活动), logged by staff or ingested."""
