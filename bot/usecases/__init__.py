"""The use cases of the study service, one module each; bot.service.StudyService combines them."""
